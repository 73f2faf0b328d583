"""One status snapshot of a run (progress, resources, log age), and its one-line rendering for `runs watch`."""

from __future__ import annotations

import time
from typing import Any

from expkit.monitor import progress, resources
from expkit.timeutil import human_duration, now_iso


def snapshot(run) -> dict[str, Any]:
    status = run.status()
    records = progress.read_records(run.log_path)
    prog = progress.summarize(records, status.get("duration_s"))
    sample = resources.latest(run.path, 1)
    try:
        log_age = round(time.time() - run.log_path.stat().st_mtime, 1)
    except OSError:
        log_age = None
    return {"t": now_iso(), "run_id": run.id, "state": status["state"], "elapsed_s": status.get("duration_s"),
            "progress": prog, "resources": sample[0] if sample else None, "log_age_s": log_age}


def change_key(snap: dict[str, Any]) -> tuple:
    """What a follower wants to hear about: the state, the position, the losses, the run going silent. Elapsed
    time, speed, ETA and resource samples move every second and are not news on their own."""
    p = snap["progress"]
    silent = bool(snap.get("log_age_s") and snap["log_age_s"] > 60 and snap["state"] == "running")
    return (snap["state"], p.get("step"), p.get("total"), p.get("epoch"), p.get("loss"),
            tuple(sorted((p.get("eval") or {}).items())), None if p.get("step") is not None else p.get("last_line"),
            silent)


def render(snap: dict[str, Any]) -> str:
    """`running 4m12s | step 450/1000 (45%) epoch 3 | loss 0.4321 falling | 9.87 it/s ETA 1m40s | rss 1.2 GiB ...`"""
    p = snap["progress"]
    parts = [f"{snap['state']} {human_duration(snap.get('elapsed_s'))}"]
    pos = []
    if p.get("step") is not None:
        pos.append(f"step {p['step']}" + (f"/{p['total']}" if p.get("total") else ""))
        if p.get("pct") is not None:
            pos[-1] += f" ({p['pct']:.0f}%)"
    if p.get("epoch") is not None:
        pos.append(f"epoch {p['epoch']:g}" + (f"/{p['epochs']}" if p.get("epochs") else ""))
    if pos:
        parts.append(" ".join(pos))
    if p.get("loss") is not None:
        trend = p.get("loss_trend")
        parts.append(f"loss {p['loss']:.4g}" + (f" {trend}" if trend and trend != "unknown" else ""))
    evals = [(k, v) for k, v in (p.get("eval") or {}).items() if "loss" in k.lower()][:2] or \
        list((p.get("eval") or {}).items())[:2]
    if evals:
        parts.append(" ".join(f"{k} {v:.4g}" for k, v in evals))
    speed = []
    if p.get("rate"):
        speed.append(f"{p['rate']:.3g} it/s")
    if p.get("eta_s") is not None and snap["state"] == "running":
        speed.append(f"ETA {human_duration(p['eta_s'])}")
    if speed:
        parts.append(" ".join(speed))
    res = resources.describe(snap.get("resources"))
    if res:
        parts.append(res)
    if not pos and p.get("loss") is None and p.get("last_line"):
        parts.append(f"last: {p['last_line'][:80]}")
    if snap.get("log_age_s") is not None and snap["log_age_s"] > 60 and snap["state"] == "running":
        parts.append(f"no output for {human_duration(snap['log_age_s'])}")
    return " | ".join(parts)
