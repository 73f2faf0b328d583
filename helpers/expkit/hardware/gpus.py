"""GPU facts: NVML first, `nvidia-smi` when the NVML binding cannot load, an empty list with the reason otherwise.

Indices are PCI bus order, which is what CUDA_VISIBLE_DEVICES selects when CUDA_DEVICE_ORDER=PCI_BUS_ID (set
for every launched run). NVML is loaded only when a driver is present, so a CPU machine pays nothing.
"""

from __future__ import annotations

import os
import re
from typing import Any

INDEX_ORDER = "PCI_BUS_ID"
DEFAULT_FREE_MIB = 1024  # a GPU using more than this (another user's cache, a notebook) is not free
MIB = 1024 * 1024

SMI_GPU_FIELDS = ["index", "uuid", "name", "pci.bus_id", "memory.total", "memory.used", "memory.free",
                  "utilization.gpu", "utilization.memory", "temperature.gpu", "power.draw", "driver_version"]
SMI_APP_FIELDS = ["gpu_uuid", "pid", "used_memory"]


def driver_present() -> bool:
    """Cheap check before loading NVML. EXPKIT_NVML_ALWAYS=1 tries NVML anyway (containers that hide
    /proc/driver/nvidia and ship no nvidia-smi)."""
    if os.environ.get("EXPKIT_NVML_ALWAYS") == "1":
        return True
    return os.path.exists("/proc/driver/nvidia/version") or _which("nvidia-smi") is not None


def _which(name: str) -> str | None:
    """shutil.which without importing shutil: `expkit gpus` on a CPU machine must cost about an `import click`."""
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        path = os.path.join(folder or ".", name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def list_gpus() -> dict[str, Any]:
    """{"devices": [...], "driver": str|None, "cuda_driver": "12.4"|None, "reason": str|None, "source": ...,
    "index_order": "PCI_BUS_ID"}. Each device: index, uuid, name, pci_bus_id, memory_{total,used,free}_mib,
    utilization_gpu/memory (%), temperature_c, power_w, processes [{pid, user, used_memory_mib, expkit_run}]."""
    base = {"devices": [], "driver": None, "cuda_driver": None, "source": None, "index_order": INDEX_ORDER}
    if not driver_present():
        return {**base, "reason": "no NVIDIA driver loaded (no /proc/driver/nvidia, no nvidia-smi on PATH)"}
    result, nvml_problem = _from_nvml()
    if result is not None:
        return {**base, **result}
    if _which("nvidia-smi"):
        result = _from_nvidia_smi()
        result.setdefault("notes", []).insert(0, f"NVML unavailable ({nvml_problem}); read from nvidia-smi")
        return {**base, **result}
    return {**base, "reason": nvml_problem}


def _from_nvml() -> tuple[dict[str, Any] | None, str | None]:
    try:
        import pynvml
    except ImportError:
        return None, "the NVML binding (nvidia-ml-py) is not installed"
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
        return None, f"NVML could not start: {_str(exc)}"
    try:
        driver = _str(pynvml.nvmlSystemGetDriverVersion())
        cuda_driver = _try(lambda: _cuda_version(pynvml.nvmlSystemGetCudaDriverVersion()))
        devices = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            util = _try(lambda: pynvml.nvmlDeviceGetUtilizationRates(h))
            power = _try(lambda: pynvml.nvmlDeviceGetPowerUsage(h))
            procs = {}
            for getter in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
                for p in _try(lambda: getattr(pynvml, getter)(h)) or []:
                    used = getattr(p, "usedGpuMemory", None)
                    procs.setdefault(p.pid, process_info(p.pid, used // MIB if isinstance(used, int) else None))
            devices.append({
                "nvml_index": i,
                "uuid": _str(pynvml.nvmlDeviceGetUUID(h)),
                "name": _str(pynvml.nvmlDeviceGetName(h)),
                "pci_bus_id": _try(lambda: _str(pynvml.nvmlDeviceGetPciInfo(h).busId)),
                "memory_total_mib": mem.total // MIB,
                "memory_used_mib": mem.used // MIB,
                "memory_free_mib": mem.free // MIB,
                "utilization_gpu": getattr(util, "gpu", None),
                "utilization_memory": getattr(util, "memory", None),
                "temperature_c": _try(lambda: pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU)),
                "power_w": round(power / 1000, 1) if power is not None else None,
                "processes": list(procs.values()),
            })
        devices = _pci_order(devices)
        return {"devices": devices, "driver": driver, "cuda_driver": cuda_driver, "source": "nvml",
                "reason": None if devices else "NVML reports no devices"}, None
    finally:
        _try(pynvml.nvmlShutdown)


def _from_nvidia_smi() -> dict[str, Any]:
    """The fallback: two CSV queries (GPUs, then compute apps), parsed by parse_smi_*."""
    import subprocess

    try:
        gpus = subprocess.run(["nvidia-smi", f"--query-gpu={','.join(SMI_GPU_FIELDS)}",
                               "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=20)
        apps = subprocess.run(["nvidia-smi", f"--query-compute-apps={','.join(SMI_APP_FIELDS)}",
                               "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"devices": [], "reason": f"nvidia-smi failed: {exc}", "source": "nvidia-smi"}
    if gpus.returncode != 0:
        msg = (gpus.stdout + gpus.stderr).strip().splitlines()
        return {"devices": [], "reason": f"nvidia-smi failed: {msg[0] if msg else 'exit ' + str(gpus.returncode)}",
                "source": "nvidia-smi"}
    devices, driver = parse_smi_gpus(gpus.stdout)
    by_uuid = parse_smi_apps(apps.stdout if apps.returncode == 0 else "")
    for d in devices:
        d["processes"] = [process_info(pid, used) for pid, used in by_uuid.get(d["uuid"], [])]
    return {"devices": _pci_order(devices), "driver": driver, "source": "nvidia-smi",
            "reason": None if devices else "nvidia-smi reports no devices"}


def parse_smi_gpus(text: str) -> tuple[list[dict[str, Any]], str | None]:
    """Parse `nvidia-smi --query-gpu=<SMI_GPU_FIELDS> --format=csv,noheader,nounits`."""
    devices, driver = [], None
    for line in text.splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != len(SMI_GPU_FIELDS):
            continue
        row = dict(zip(SMI_GPU_FIELDS, cells))
        driver = driver or _na(row["driver_version"])
        power = _num(row["power.draw"], float)
        devices.append({
            "nvml_index": _num(row["index"], int), "uuid": row["uuid"], "name": row["name"],
            "pci_bus_id": _na(row["pci.bus_id"]),
            "memory_total_mib": _num(row["memory.total"], int), "memory_used_mib": _num(row["memory.used"], int),
            "memory_free_mib": _num(row["memory.free"], int),
            "utilization_gpu": _num(row["utilization.gpu"], int),
            "utilization_memory": _num(row["utilization.memory"], int),
            "temperature_c": _num(row["temperature.gpu"], int),
            "power_w": round(power, 1) if power is not None else None, "processes": [],
        })
    return devices, driver


def parse_smi_apps(text: str) -> dict[str, list[tuple[int, int | None]]]:
    """Parse `nvidia-smi --query-compute-apps=gpu_uuid,pid,used_memory --format=csv,noheader,nounits`."""
    out: dict[str, list[tuple[int, int | None]]] = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != 3 or not cells[1].isdigit():
            continue
        out.setdefault(cells[0], []).append((int(cells[1]), _num(cells[2], int)))
    return out


def process_info(pid: int, used_mib: int | None) -> dict[str, Any]:
    """pid, user and whether it is an expkit run (EXPKIT_RUN_ID in its environment), from /proc.
    user/expkit_run are None when /proc does not tell (another user's process, another PID namespace)."""
    user, run_id, readable = None, None, False
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("Uid:"):
                    import pwd

                    uid = int(line.split()[1])
                    try:
                        user = pwd.getpwuid(uid).pw_name
                    except KeyError:
                        user = str(uid)
                    break
        with open(f"/proc/{pid}/environ", "rb") as fh:
            readable = True
            for item in fh.read().split(b"\0"):
                if item.startswith(b"EXPKIT_RUN_ID="):
                    run_id = item.split(b"=", 1)[1].decode(errors="replace")
    except OSError:
        pass
    return {"pid": pid, "user": user, "used_memory_mib": used_mib,
            "expkit_run": run_id is not None if readable else None, "run_id": run_id}


def free_gpus(info: dict[str, Any] | None = None, max_used_mib: int | None = None) -> list[dict[str, Any]]:
    """GPUs with no process on them and at most `max_used_mib` memory used (default DEFAULT_FREE_MIB,
    or $EXPKIT_GPU_FREE_MIB). Every device gets a `free` flag and, when busy, a `busy_because`."""
    info = info if info is not None else list_gpus()
    limit = max_used_mib if max_used_mib is not None else int(os.environ.get("EXPKIT_GPU_FREE_MIB", DEFAULT_FREE_MIB))
    free = []
    for d in info["devices"]:
        why = []
        if d.get("processes"):
            who = ", ".join(_describe(p) for p in d["processes"])
            why.append(f"{len(d['processes'])} process(es) on it: {who}")
        used = d.get("memory_used_mib")
        if used is not None and used > limit:
            why.append(f"{used} MiB used (> {limit} MiB)")
        d["free"] = not why
        d["busy_because"] = "; ".join(why) or None
        if not why:
            free.append(d)
    return free


def _describe(p: dict[str, Any]) -> str:
    text = f"pid {p['pid']}"
    if p.get("user"):
        text += f" ({p['user']})"
    if p.get("run_id"):
        text += f" expkit run {p['run_id']}"
    return text


def is_auto(spec: str | None) -> bool:
    return bool(spec) and bool(re.match(r"^auto(:\d+)?$", spec.strip().lower()))


def resolve_auto(spec: str, max_used_mib: int | None = None) -> tuple[list[int], dict[str, Any]]:
    """'auto' -> one free GPU, 'auto:N' -> N free GPUs (lowest indices). Raises ExpkitError when too few."""
    from expkit.errors import ExpkitError

    text = spec.strip().lower()
    want = int(text.split(":", 1)[1]) if ":" in text else 1
    if want < 1:
        raise ExpkitError(f"--gpus {spec}: the count must be at least 1", "use --gpus auto or --gpus auto:2")
    info = list_gpus()
    if not info["devices"]:
        raise ExpkitError(f"--gpus {spec}: no GPU found ({info['reason']})",
                          "run on CPU with --gpus none, or launch on a machine with a GPU (check with `expkit gpus`)")
    free = free_gpus(info, max_used_mib)
    if len(free) < want:
        busy = "; ".join(f"GPU {d['index']}: {d['busy_because']}" for d in info["devices"] if not d["free"])
        raise ExpkitError(f"--gpus {spec}: {len(free)} of {len(info['devices'])} GPU(s) free, {want} wanted ({busy})",
                          "wait for them (`expkit gpus --free`), ask for fewer, or pick indices with --gpus 0,1")
    return [d["index"] for d in free[:want]], info


def _pci_order(devices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    devices.sort(key=lambda d: (d.get("pci_bus_id") or "").lower() or f"~{d.get('nvml_index', 0):04d}")
    for i, d in enumerate(devices):
        d["index"] = i
    return [{"index": d.pop("index"), **d} for d in devices]


def _cuda_version(value: int) -> str:
    return f"{value // 1000}.{(value % 1000) // 10}"


def _na(text: str) -> str | None:
    return None if not text or text.startswith("[") or text in ("N/A", "Not Supported") else text


def _num(text: str, kind):
    text = _na(text)
    try:
        return kind(float(text)) if text is not None else None
    except ValueError:
        return None


def _try(fn):
    try:
        return fn()
    except Exception:
        return None


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
