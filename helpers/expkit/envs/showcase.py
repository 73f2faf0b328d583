"""The pre-flight part of `expkit demo`: what a researcher sees before the first launch. Changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable


def preflight_demo(project: Path, echo: Callable[[str], None] = print, env_name: str | None = None) -> dict[str, Any]:
    """GPUs, the suggested training command and the doctor table for `project`, as a few printed lines.

    Returns the facts (gpus, entrypoints, doctor) so a caller can launch the suggested command next.
    """
    from expkit.entrypoints.discover import find_entrypoints
    from expkit.envs.doctor import doctor
    from expkit.hardware.gpus import free_gpus, list_gpus

    gpus = list_gpus()
    free = free_gpus(gpus)
    echo(f"gpus: {len(gpus['devices'])} found, {len(free)} free" if gpus["devices"] else f"gpus: none ({gpus['reason']})")
    eps = find_entrypoints(project)
    top = eps["candidates"][0] if eps["candidates"] else None
    if top:
        cfg = top.get("config") or {}
        echo(f"training command: {eps['suggested']}  ({cfg.get('style') or 'no'} config, "
             f"{top.get('framework') or 'unknown'} framework)")
    else:
        echo(f"training command: {eps['note']}")
    report = doctor(project, env_name)
    for c in report["checks"]:
        echo(f"  [{c['status']}] {c['check']}: {c['detail']}")
    return {"gpus": gpus, "entrypoints": eps, "doctor": report}
