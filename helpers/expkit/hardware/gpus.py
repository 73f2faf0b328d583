"""GPU facts for manifests. NVML is loaded only when a driver is present, so a CPU machine pays nothing."""

from __future__ import annotations

import os
import shutil
from typing import Any


def driver_present() -> bool:
    """Cheap check before loading NVML. EXPKIT_NVML_ALWAYS=1 tries NVML anyway (containers that hide
    /proc/driver/nvidia and ship no nvidia-smi)."""
    if os.environ.get("EXPKIT_NVML_ALWAYS") == "1":
        return True
    return os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi") is not None


def list_gpus() -> dict[str, Any]:
    """{"devices": [{index, name, uuid, memory_total_mib}], "driver": str|None, "reason": str|None}"""
    if not driver_present():
        return {"devices": [], "driver": None, "reason": "no NVIDIA driver loaded (no /proc/driver/nvidia, no nvidia-smi)"}
    try:
        import pynvml
    except ImportError:
        return {"devices": [], "driver": None, "reason": "the NVML binding (nvidia-ml-py) is not installed"}
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return {"devices": [], "driver": None, "reason": f"NVML could not start: {exc}"}
    try:
        driver = _str(pynvml.nvmlSystemGetDriverVersion())
        devices = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            devices.append({
                "index": i,
                "name": _str(pynvml.nvmlDeviceGetName(h)),
                "uuid": _str(pynvml.nvmlDeviceGetUUID(h)),
                "memory_total_mib": pynvml.nvmlDeviceGetMemoryInfo(h).total // (1024 * 1024),
            })
        return {"devices": devices, "driver": driver, "reason": None if devices else "NVML reports no devices"}
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
