"""A stand-in for nvidia-ml-py's `pynvml`, for machines with no NVIDIA GPU (tests only).

This is a fake at the NVML boundary: no GPU or driver can exist on the test machines. Put
tests/fakes on PYTHONPATH and point FAKE_NVML_STATE at a JSON file:

    {"driver": "550.54.15",
     "devices": [{"name": "NVIDIA A100-SXM4-80GB", "uuid": "GPU-0000...", "pci_bus_id": "00000000:07:00.0",
                  "memory_total_mib": 81920, "memory_used_mib": 0, "utilization_gpu": 0,
                  "utilization_memory": 0, "temperature_c": 30, "power_w": 60.0,
                  "processes": [{"pid": 123, "used_memory_mib": 1024}],
                  "graphics_processes": [{"pid": 456, "used_memory_mib": 200}]}]}

The file is re-read on every call, so a test can change what the "GPUs" report while a process runs.
Set FAKE_NVML_FAIL to a message to make nvmlInit() fail like a missing driver does.
Only the calls expkit uses are implemented, with the real call names and return shapes.
"""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

NVML_TEMPERATURE_GPU = 0


class NVMLError(Exception):
    pass


class NVMLError_LibraryNotFound(NVMLError):
    pass


class NVMLError_DriverNotLoaded(NVMLError):
    pass


class NVMLError_NotSupported(NVMLError):
    pass


def _state() -> dict:
    path = os.environ.get("FAKE_NVML_STATE")
    if not path:
        raise NVMLError_LibraryNotFound("NVML Shared Library Not Found")
    with open(path) as fh:
        return json.load(fh)


def _dev(handle) -> dict:
    return _state()["devices"][handle]


def nvmlInit():
    if os.environ.get("FAKE_NVML_FAIL"):
        raise NVMLError_DriverNotLoaded(os.environ["FAKE_NVML_FAIL"])
    _state()


def nvmlShutdown():
    pass


def nvmlSystemGetDriverVersion():
    return _state().get("driver", "550.54.15")


def nvmlSystemGetCudaDriverVersion():
    return int(_state().get("cuda_driver_version", 12040))


def nvmlDeviceGetCount():
    return len(_state()["devices"])


def nvmlDeviceGetHandleByIndex(index):
    if index >= nvmlDeviceGetCount():
        raise NVMLError("Invalid Argument")
    return index


def nvmlDeviceGetName(handle):
    return _dev(handle)["name"]


def nvmlDeviceGetUUID(handle):
    return _dev(handle)["uuid"]


def nvmlDeviceGetPciInfo(handle):
    bus = _dev(handle).get("pci_bus_id", f"00000000:{handle + 1:02X}:00.0")
    return SimpleNamespace(busId=bus, busIdLegacy=bus)


def nvmlDeviceGetMemoryInfo(handle):
    d = _dev(handle)
    total = d.get("memory_total_mib", 16384) * 1024 * 1024
    used = d.get("memory_used_mib", 0) * 1024 * 1024
    return SimpleNamespace(total=total, used=used, free=total - used)


def nvmlDeviceGetUtilizationRates(handle):
    d = _dev(handle)
    return SimpleNamespace(gpu=d.get("utilization_gpu", 0), memory=d.get("utilization_memory", 0))


def nvmlDeviceGetTemperature(handle, sensor):
    return _dev(handle).get("temperature_c", 30)


def nvmlDeviceGetPowerUsage(handle):
    return int(_dev(handle).get("power_w", 50.0) * 1000)  # milliwatts, like NVML


def nvmlDeviceGetComputeRunningProcesses(handle):
    return [SimpleNamespace(pid=p["pid"], usedGpuMemory=p.get("used_memory_mib", 0) * 1024 * 1024)
            for p in _dev(handle).get("processes", [])]


def nvmlDeviceGetGraphicsRunningProcesses(handle):
    return [SimpleNamespace(pid=p["pid"], usedGpuMemory=p.get("used_memory_mib", 0) * 1024 * 1024)
            for p in _dev(handle).get("graphics_processes", [])]
