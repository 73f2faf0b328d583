"""Which GPUs the scheduler may lease: the inventory (one function, read through expkit.hardware.gpus) and
the --gpus / --per-gpu / --max-parallel options turned into slots."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from expkit.errors import ExpkitError


@dataclass(frozen=True)
class Slot:
    key: str                      # "gpu:<uuid>#0" or "cpu#0"
    gpu_uuid: str | None = None
    gpu_index: int | None = None  # PCI bus order, what CUDA_VISIBLE_DEVICES means with CUDA_DEVICE_ORDER=PCI_BUS_ID


def gpu_inventory() -> list[dict[str, Any]]:
    """[{index, uuid, name, pids}] for every GPU, with the pids of the processes using it now.

    The only place the scheduler reads GPUs: when expkit.hardware.gpus lists processes per device it is used
    as is, otherwise the processes are asked from NVML here.
    """
    from expkit.hardware.gpus import list_gpus

    info = list_gpus()
    devices = info.get("devices") or []
    if devices and any("processes" not in d for d in devices):
        _add_processes(devices)
    return [{"index": d.get("index", i), "uuid": d["uuid"], "name": d.get("name"),
             "pids": sorted({p["pid"] if isinstance(p, dict) else p for p in d.get("processes") or []})}
            for i, d in enumerate(devices)]


def _add_processes(devices: list[dict[str, Any]]) -> None:
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:
        return
    try:
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            uuid = pynvml.nvmlDeviceGetUUID(h)
            uuid = uuid.decode() if isinstance(uuid, bytes) else str(uuid)
            pids = [p.pid for p in pynvml.nvmlDeviceGetComputeRunningProcesses(h)]
            pids += [p.pid for p in pynvml.nvmlDeviceGetGraphicsRunningProcesses(h)]
            for d in devices:
                if d.get("uuid") == uuid:
                    d["processes"] = [{"pid": p} for p in pids]
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def plan_slots(gpus: str | None, per_gpu: int = 1, max_parallel: int | None = None,
               inventory: list[dict[str, Any]] | None = None) -> tuple[list[Slot], str]:
    """Slots from --gpus ('auto' | '0,2' | 'none'). Returns (slots, a one-line description)."""
    if per_gpu < 1:
        raise ExpkitError("--per-gpu must be at least 1", "--per-gpu 2 lets two jobs share each GPU")
    if max_parallel is not None and max_parallel < 1:
        raise ExpkitError("--max-parallel must be at least 1", "give how many jobs may run at once")
    text = (gpus or "auto").strip().lower()
    if text in ("none", "cpu", ""):
        n = max_parallel or 1
        return [Slot(f"cpu#{i}") for i in range(n)], f"CPU only, {n} at a time"
    inv = gpu_inventory() if inventory is None else inventory
    if text == "auto":
        chosen = inv
        if not chosen:
            n = max_parallel or 1
            return [Slot(f"cpu#{i}") for i in range(n)], f"no GPU found: CPU only, {n} at a time"
    else:
        items = [g.strip() for g in text.split(",") if g.strip()]
        if not all(re.fullmatch(r"\d+|gpu-[0-9a-f-]+", g) for g in items):
            raise ExpkitError(f"--gpus expects auto, none, or indices like 0,1, got '{gpus}'",
                              "list GPU indices separated by commas, or --gpus auto for every GPU")
        by_index = {str(d["index"]): d for d in inv}
        by_uuid = {d["uuid"].lower(): d for d in inv}
        chosen = []
        for g in items:
            d = by_index.get(g) or by_uuid.get(g)
            if d is None:
                have = ", ".join(str(d["index"]) for d in inv) or "none"
                raise ExpkitError(f"GPU {g} does not exist on this machine (GPUs: {have})",
                                  "check `nvidia-smi -L`, or use --gpus auto")
            chosen.append(d)
    slots = [Slot(f"gpu:{d['uuid']}#{k}", d["uuid"], d["index"]) for k in range(per_gpu) for d in chosen]
    if max_parallel:
        slots = slots[:max_parallel]
    desc = f"GPUs {','.join(str(d['index']) for d in chosen)}, {per_gpu} job(s) per GPU, {len(slots)} at a time"
    return slots, desc
