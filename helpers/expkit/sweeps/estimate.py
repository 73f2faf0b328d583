"""What a sweep will cost before it starts: GPU-hours, wall time on the slots available, and disk.

Per-trial time and disk come from past runs of the same command (same program, finished successfully) when there
are any; otherwise from a short timed smoke run of the first trial: if it finishes within the budget its own
duration is used, if not the time is extrapolated from the progress it printed ("12/100", "epoch 3/10").
"""

from __future__ import annotations

import math
import os
import re
import statistics
from pathlib import Path
from typing import Any

from expkit.runs.store import RunStore
from expkit.sweeps.gpus import plan_slots
from expkit.sweeps.spec import SweepSpec, build_argv
from expkit.sweeps.trials import first_trial, trial_count

_PROGRESS = re.compile(r"(\d+)\s*/\s*(\d+)")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def command_key(argv: list[str]) -> tuple[str, ...]:
    """A command with its values blanked: `python train.py --lr 0.1 bs=8` -> (python, train.py, --lr, *, bs=*).

    Runs of one sweep or of the same script with other values share the key; other scripts or flags do not."""
    key = []
    for i, item in enumerate(argv):
        if i == 0:
            key.append(re.sub(r"[\d.]+$", "", os.path.basename(item)))  # python3.11 -> python
        elif "=" in item:
            key.append(item.split("=", 1)[0] + "=*")
        elif item.startswith("-") and not _NUMBER.fullmatch(item):
            key.append(item)
        elif i > 0 and argv[i - 1].startswith("-") and not _NUMBER.fullmatch(argv[i - 1]):
            key.append("*")  # the value of a flag
        else:
            key.append(item)
    return tuple(key)


def dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def from_past_runs(store: RunStore, key: tuple[str, ...]) -> dict[str, Any] | None:
    durations, sizes = [], []
    for run in store.all():
        argv = (run.manifest().get("command") or {}).get("argv") or []
        if command_key(argv) != key:
            continue
        st = run.status()
        if st["state"] == "succeeded" and st.get("duration_s") is not None:
            durations.append(st["duration_s"])
            sizes.append(dir_size(run.path))
    if not durations:
        return None
    return {"seconds": statistics.median(durations), "disk_bytes": int(statistics.median(sizes)),
            "source": f"median of {len(durations)} past run(s) of `{' '.join(key)}`"}


def smoke_run(spec: SweepSpec, params: dict[str, Any], runs_dir: Path, seconds: float,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    from expkit.runs.control import stop, tail_lines, wait
    from expkit.runs.launch import LaunchRequest, launch

    res = launch(LaunchRequest(argv=build_argv(spec, params), name=f"{spec.name}-smoke", runs_dir=runs_dir,
                               group=f"{spec.name}-smoke", gpus=None, env={**spec.env, **(env or {})}))
    try:
        st = wait(res.run, timeout=seconds)
        finished = True
    except TimeoutError:
        finished = False
    if finished:
        ok = st["state"] == "succeeded"
        out = {"seconds": st.get("duration_s") or 0.0, "disk_bytes": dir_size(res.run.path), "run_id": res.run.id,
               "source": f"smoke run {res.run.id} ({'finished' if ok else st['state']} in "
                         f"{st.get('duration_s') or 0:.1f}s)", "failed": not ok}
        if not ok:  # its time says nothing about a working trial: no estimate, the diagnosis instead
            from expkit.monitor.diagnose import diagnose

            out.update(seconds=None, disk_bytes=None, diagnosis=diagnose(res.run))
        return out
    elapsed = res.run.status().get("duration_s") or seconds
    size = dir_size(res.run.path)
    fraction = None
    for line in reversed(tail_lines(res.run.log_path, 50)):
        m = _PROGRESS.findall(line)
        if m:
            done, total = (int(x) for x in m[-1])
            if 0 < done <= total:
                fraction = done / total
                break
    stop(res.run, grace=5)
    if fraction:
        return {"seconds": elapsed / fraction, "disk_bytes": int(size / fraction), "run_id": res.run.id,
                "source": f"smoke run {res.run.id}: {fraction:.0%} done after {elapsed:.0f}s, extrapolated"}
    return {"seconds": None, "lower_bound_s": elapsed, "disk_bytes": None, "run_id": res.run.id,
            "source": f"smoke run {res.run.id} did not finish in {elapsed:.0f}s and printed no progress (N/M)"}


def estimate_sweep(spec: SweepSpec, runs_dir: Path, gpus: str | None = None, per_gpu: int = 1,
                   max_parallel: int | None = None, smoke_seconds: float | None = 20.0,
                   env: dict[str, str] | None = None) -> dict[str, Any]:
    n = trial_count(spec)
    slots, slot_desc = plan_slots(gpus, per_gpu, max_parallel)
    gpu_jobs = any(s.gpu_uuid for s in slots)
    first = first_trial(spec)
    key = command_key(build_argv(spec, first))
    per = from_past_runs(RunStore(runs_dir), key)
    if per is None and smoke_seconds:
        per = smoke_run(spec, first, runs_dir, smoke_seconds, env)
    if per is None:
        per = {"seconds": None, "disk_bytes": None, "source": "no past run of this command and no smoke run"}
    secs = per.get("seconds")
    waves = math.ceil(n / len(slots)) if slots else n
    return {"sweep": spec.name, "trials": n, "slots": slot_desc, "parallel": len(slots), "per_trial": per,
            "gpu_hours": round(n * secs / 3600, 3) if secs is not None and gpu_jobs else (0.0 if not gpu_jobs else None),
            "wall_seconds": round(waves * secs, 1) if secs is not None else None,
            "disk_bytes": n * per["disk_bytes"] if per.get("disk_bytes") is not None else None}


def human_duration(seconds: float | None) -> str:
    from expkit.timeutil import human_duration as coarse

    if seconds is not None and seconds < 60:
        return f"{seconds:.1f}s"
    return coarse(seconds)


def render_text(r: dict[str, Any]) -> str:
    per = r["per_trial"]
    lines = [f"sweep {r['sweep']}: {r['trials']} trial(s) on {r['slots']}",
             f"  per trial: {human_duration(per.get('seconds')) if per.get('seconds') is not None else 'unknown'}"
             + (f" (at least {human_duration(per['lower_bound_s'])})" if per.get("lower_bound_s") else "")
             + f"  [{per['source']}]"]
    lines.append(f"  wall time: {human_duration(r['wall_seconds']) if r['wall_seconds'] is not None else 'unknown'}")
    gh = r["gpu_hours"]
    lines.append(f"  GPU-hours: {gh if gh is not None else 'unknown'}")
    disk = r["disk_bytes"]
    lines.append(f"  disk:      {disk / 1e6:.1f} MB" if disk is not None else "  disk:      unknown")
    if per.get("failed"):
        from expkit.monitor.render import render_text as render_diagnosis

        lines.append("  the smoke run failed, so there is no estimate: fix it before launching the sweep")
        if per.get("diagnosis"):
            lines += ["  " + line for line in render_diagnosis(per["diagnosis"], max_fixes=3, max_findings=2)]
    return "\n".join(lines)
