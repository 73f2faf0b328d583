"""Why CUDA is unavailable, in words: `cuda_reason` for each cause a researcher meets. The facts are the shapes
probe.py reports from inside an env; GPUs are what `list_gpus()` reports (no GPU exists on the test machines)."""

from __future__ import annotations

from expkit.envs.verify import cuda_reason

CUDA_TORCH = {"installed": True, "version": "2.4.0+cu124", "cuda_build": "12.4", "cuda_available": False, "warnings": []}
A100 = {"devices": [{"index": 0}], "driver": "470.82.01", "cuda_driver": "11.4"}


def test_cpu_only_build():
    r = cuda_reason({**CUDA_TORCH, "version": "2.13.0+cpu", "cuda_build": None}, None, A100)
    assert "CPU-only build" in r and "install a CUDA build" in r


def test_rocm_build_is_not_called_cpu_only():
    assert "a ROCm build" in cuda_reason({**CUDA_TORCH, "cuda_build": None, "hip_build": "6.0"}, None, A100)


def test_cuda_visible_devices_empty():
    assert "CUDA_VISIBLE_DEVICES is set to ''" in cuda_reason(CUDA_TORCH, "", A100)
    assert "hides every GPU" in cuda_reason(CUDA_TORCH, "-1", A100)


def test_no_gpu_on_the_machine():
    r = cuda_reason(CUDA_TORCH, None, {"devices": [], "reason": "no NVIDIA driver loaded"})
    assert r.startswith("no GPU on this machine (no NVIDIA driver loaded)")


def test_driver_too_old_for_the_cuda_runtime():
    r = cuda_reason(CUDA_TORCH, None, A100)
    assert "supports CUDA up to 11.4, but torch was built with CUDA 12.4" in r and "update the driver" in r


def test_otherwise_quote_what_torch_said():
    gpus = {**A100, "cuda_driver": "12.6", "driver": "560.35"}
    r = cuda_reason({**CUDA_TORCH, "warnings": ["CUDA initialization: Unexpected error from cudaGetDeviceCount()"]},
                    None, gpus)
    assert "Unexpected error from cudaGetDeviceCount()" in r and "560.35" in r


def test_available_and_missing():
    assert cuda_reason({**CUDA_TORCH, "cuda_available": True}, "0", A100) is None
    assert cuda_reason({"installed": False}, None, A100).startswith("torch is not installed")
    assert "does not import" in cuda_reason({"installed": True, "import_error": "OSError: libcudnn"}, None, A100)
