"""No model zoo in the stand-in: libraries that import a model at import time (torchmetrics) get a stub that
fails only if it is called."""


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)

    def unavailable(*args, **kwargs):
        raise NotImplementedError(f"torchvision.models.{name} is not part of the test stand-in")

    return unavailable
