"""A tiny stand-in for torchvision (test shim: the PyPI wheel does not import next to torch 2.13 CPU here).

Only what the vendored example scripts use: datasets.MNIST / FashionMNIST / FakeData with synthetic images
(EXPKIT_SHIM_SAMPLES of them, never downloaded), a few transforms on tensors, and utils.save_image/make_grid.
"""

from torchvision import datasets, models, transforms, utils  # noqa: F401

__version__ = "0.0.0+expkit.shim"
