"""Test shim for tests/test_realworld_runs.py, active only when EXPKIT_SHIM=1 (the vendored scripts stay untouched).

- Tiny synthetic data instead of downloads: keras.datasets.mnist.load_data returns EXPKIT_SHIM_SAMPLES random
  images (torchvision's datasets come from the fake package in torchvision_fake/, put on the path per script).
- EXPKIT_SHIM_RAISE_AT=N: the N-th `Tensor.backward()` raises RuntimeError, i.e. the script crashes in the middle
  of training, as a real bug would.
"""

import importlib.abc
import importlib.util
import os
import sys


def _samples():
    return int(os.environ.get("EXPKIT_SHIM_SAMPLES", "64"))


def _patch_torch(torch):
    raise_at = int(os.environ.get("EXPKIT_SHIM_RAISE_AT", "0") or 0)
    if not raise_at:
        return
    original = torch.Tensor.backward
    calls = [0]

    def backward(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == raise_at:
            raise RuntimeError(f"expkit test: failure injected at backward() call {raise_at}")
        return original(self, *args, **kwargs)

    torch.Tensor.backward = backward


def _patch_keras_mnist(module):
    def load_data(path="mnist.npz"):
        import numpy as np

        rng = np.random.default_rng(0)
        n = _samples()
        x = rng.integers(0, 256, size=(2 * n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, size=(2 * n,), dtype=np.uint8)
        return (x[:n], y[:n]), (x[n:], y[n:])

    module.load_data = load_data


HOOKS = {"torch": _patch_torch, "keras.src.datasets.mnist": _patch_keras_mnist}


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs a patch right after a module is first executed."""

    def find_spec(self, name, path, target=None):
        if name not in HOOKS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                exec_module = spec.loader.exec_module

                def run(module, _exec=exec_module, _hook=HOOKS[name]):
                    _exec(module)
                    _hook(module)

                spec.loader.exec_module = run
                return spec
        return None


if os.environ.get("EXPKIT_SHIM"):
    sys.meta_path.insert(0, _AfterImport())
