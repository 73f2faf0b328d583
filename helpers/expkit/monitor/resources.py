"""Resource samples of a live run: the process tree's RSS from /proc and its GPUs' utilization/memory via NVML.

The supervisor runs a Sampler thread while the command runs; each sample is one JSON line appended to
resources.jsonl in the run dir with a single write() on an O_APPEND descriptor, so a reader never sees half a
line. Standard library only (NVML is imported inside the thread, and only when a driver is present), so the
supervisor still starts in milliseconds. Off with EXPKIT_SAMPLE=0 (`expkit launch --env EXPKIT_SAMPLE=0 ...`);
the period is EXPKIT_SAMPLE_INTERVAL seconds (default 5).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

RESOURCES = "resources.jsonl"
DEFAULT_INTERVAL = 5.0
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def enabled(env: dict | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get("EXPKIT_SAMPLE", "1").strip().lower() not in ("0", "false", "no", "off")


def interval(env: dict | None = None) -> float:
    env = os.environ if env is None else env
    try:
        return max(0.05, float(env.get("EXPKIT_SAMPLE_INTERVAL", DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL


def _proc_table() -> dict[int, tuple[int, int, int, int]]:
    """pid -> (ppid, pgid, rss pages, cpu ticks) for every process, from /proc/<pid>/stat."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                raw = fh.read().decode("utf-8", "replace")
        except OSError:
            continue
        rest = raw[raw.rfind(")") + 2:].split()
        if rest[0] in ("Z", "X"):
            continue
        table[int(name)] = (int(rest[1]), int(rest[2]), int(rest[21]), int(rest[11]) + int(rest[12]))
    return table


def tree_usage(root: int, pgid: int | None = None) -> dict[str, Any]:
    """RSS (MiB), CPU ticks and process count of root's descendants plus its process group."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    members = {pid for pid, row in table.items() if pgid is not None and row[1] == pgid}
    stack = [root]
    while stack:
        pid = stack.pop()
        if pid in table and pid not in members:
            members.add(pid)
        stack.extend(c for c in children.get(pid, []) if c not in members)
    rss = sum(table[p][2] for p in members) * _PAGE
    ticks = sum(table[p][3] for p in members)
    return {"pids": sorted(members), "rss_mib": round(rss / 2**20, 1), "cpu_ticks": ticks}


def mem_available_mib() -> float | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


class _Gpus:
    """NVML handles for the run's GPUs, opened once; None when there is no driver or no GPU for the run."""

    def __init__(self, visible: str | None):
        self.nvml = None
        self.handles: list[tuple[int, Any]] = []
        from expkit.hardware.gpus import driver_present

        if visible is not None and visible.strip() in ("", "-1", "none"):
            return
        if not driver_present():
            return
        try:
            import pynvml

            pynvml.nvmlInit()
            self.nvml = pynvml
            count = pynvml.nvmlDeviceGetCount()
            wanted = [v.strip() for v in visible.split(",")] if visible else [str(i) for i in range(count)]
            for item in wanted:
                if item.isdigit() and int(item) < count:
                    self.handles.append((int(item), pynvml.nvmlDeviceGetHandleByIndex(int(item))))
                elif item.upper().startswith("GPU-"):
                    for i in range(count):
                        h = pynvml.nvmlDeviceGetHandleByIndex(i)
                        uuid = pynvml.nvmlDeviceGetUUID(h)
                        uuid = uuid.decode() if isinstance(uuid, bytes) else uuid
                        if uuid.lower().startswith(item.lower()):
                            self.handles.append((i, h))
        except Exception:
            self.nvml = None
            self.handles = []

    def sample(self, pids: set[int]) -> list[dict[str, Any]]:
        out = []
        for index, h in self.handles:
            try:
                util = self.nvml.nvmlDeviceGetUtilizationRates(h)
                mem = self.nvml.nvmlDeviceGetMemoryInfo(h)
                row = {"index": index, "util_pct": util.gpu, "mem_used_mib": mem.used // 2**20,
                       "mem_total_mib": mem.total // 2**20}
                try:
                    procs = self.nvml.nvmlDeviceGetComputeRunningProcesses(h)
                    own = [p.usedGpuMemory for p in procs if p.pid in pids and p.usedGpuMemory]
                    if own:
                        row["run_mem_mib"] = sum(own) // 2**20
                except Exception:
                    pass
                out.append(row)
            except Exception as exc:
                out.append({"index": index, "error": str(exc)[:100]})
        return out

    def close(self):
        if self.nvml is not None:
            try:
                self.nvml.nvmlShutdown()
            except Exception:
                pass


class Sampler(threading.Thread):
    """Samples a process tree every `period` seconds into run_dir/resources.jsonl until stop()."""

    def __init__(self, run_dir: Path, pid: int, pgid: int | None, visible_gpus: str | None, period: float):
        super().__init__(daemon=True, name="expkit-sampler")
        self.path = Path(run_dir) / RESOURCES
        self.pid, self.pgid, self.visible, self.period = pid, pgid, visible_gpus, period
        self._halt = threading.Event()
        self.peak_rss_mib = 0.0
        self.samples = 0

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        gpus = None
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError:
            return
        t0, prev_ticks, prev_t = time.monotonic(), None, None
        try:
            gpus = _Gpus(self.visible)
            while True:
                now = time.monotonic()
                usage = tree_usage(self.pid, self.pgid)
                if not usage["pids"]:
                    break
                rec: dict[str, Any] = {"t": _now_iso(), "elapsed_s": round(now - t0, 1), "rss_mib": usage["rss_mib"],
                                       "procs": len(usage["pids"]), "mem_available_mib": mem_available_mib()}
                if prev_ticks is not None and now > prev_t:
                    rec["cpu_pct"] = round(100.0 * (usage["cpu_ticks"] - prev_ticks) / _TICKS / (now - prev_t), 1)
                prev_ticks, prev_t = usage["cpu_ticks"], now
                if gpus.handles:
                    rec["gpus"] = gpus.sample(set(usage["pids"]))
                self.peak_rss_mib = max(self.peak_rss_mib, usage["rss_mib"])
                self.samples += 1
                try:
                    os.write(fd, (json.dumps(rec, separators=(",", ":")) + "\n").encode())
                except OSError:  # disk full: stop sampling, never disturb the run
                    break
                if self._halt.wait(self.period):
                    break
        except Exception:
            pass  # sampling is a convenience: it must never take the supervisor down
        finally:
            os.close(fd)
            if gpus is not None:
                gpus.close()


def _now_iso() -> str:
    from expkit.timeutil import now_iso

    return now_iso()


def latest(run_dir: Path, n: int = 1) -> list[dict[str, Any]]:
    """The last n samples (read from the end of resources.jsonl)."""
    path = Path(run_dir) / RESOURCES
    try:
        size = path.stat().st_size
    except OSError:
        return []
    with open(path, "rb") as fh:
        fh.seek(max(0, size - 512 * (n + 2)))
        lines = fh.read().split(b"\n")
    out = []
    for line in lines[-(n + 2):]:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out[-n:]


def peak(run_dir: Path, nbytes: int = 4 << 20) -> dict[str, Any]:
    """Peak RSS and lowest available host memory seen (over the last `nbytes` of samples)."""
    path = Path(run_dir) / RESOURCES
    out: dict[str, Any] = {}
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - nbytes))
            data = fh.read()
    except OSError:
        return out
    for line in data.split(b"\n"):
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        out["samples"] = out.get("samples", 0) + 1
        out["peak_rss_mib"] = max(out.get("peak_rss_mib", 0), rec.get("rss_mib") or 0)
        if rec.get("mem_available_mib") is not None:
            out["min_mem_available_mib"] = min(out.get("min_mem_available_mib", float("inf")), rec["mem_available_mib"])
        out["last"] = rec
    return out


def describe(sample: dict[str, Any] | None) -> str:
    """`rss 1.2 GiB, cpu 98%, gpu0 97% 70.1/80.0 GiB` for a sample; '' for none."""
    if not sample:
        return ""
    rss = sample.get("rss_mib") or 0
    parts = [f"rss {rss / 1024:.2f} GiB" if rss >= 1024 else f"rss {rss:.0f} MiB"]
    if sample.get("cpu_pct") is not None:
        parts.append(f"cpu {sample['cpu_pct']:.0f}%")
    for g in sample.get("gpus") or []:
        if "error" in g:
            parts.append(f"gpu{g['index']} ?")
        else:
            parts.append(f"gpu{g['index']} {g['util_pct']}% {g['mem_used_mib'] / 1024:.1f}/{g['mem_total_mib'] / 1024:.1f} GiB")
    return ", ".join(parts)
