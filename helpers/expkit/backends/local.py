"""The local backend: the detached supervisor of `expkit.runs.launch.start` on this machine.

Its status lives in status.json, kept by the supervisor and checked against /proc by `runs.store`, so
`status()` only reads it back; `cancel` is the process-tree stop of `runs.control`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from expkit.backends import Availability, Submission
from expkit.errors import ExpkitError


class LocalBackend:
    name = "local"

    def __init__(self, **options: Any):
        if options:
            raise ExpkitError(f"the local backend takes no options (got {', '.join(sorted(options))})",
                              "drop them, or use --backend slurm/modal for --partition, --account, --time ...")

    def options(self) -> dict[str, Any]:
        return {}

    def availability(self) -> Availability:
        return Availability("local", True, "runs on this machine under a detached supervisor")

    def check(self) -> None:
        return None

    def submit(self, run, argv: list[str], cwd: Path, env: dict[str, str]) -> Submission:
        from expkit.runs.launch import start
        from expkit.timeutil import now_iso

        pid, reason = start(run, argv, cwd, env)
        if pid is None and run.raw_status().get("state") == "queued":
            raw = run.raw_status()
            raw.update(state="failed", reason=reason, ended_at=now_iso())
            run.write_status(raw)
        st = run.status()
        return Submission(run.id, str(pid) if pid else None, st["state"], reason or st.get("reason"))

    def submit_array(self, items, cwd: Path, limit: int | None = None) -> list[Submission]:
        """Start the runs one after another, at most `limit` alive at once (None: all at once)."""
        from expkit.runs.store import TERMINAL

        subs: list[Submission] = []
        alive: list = []
        for run, argv, env in items:
            while limit and len(alive) >= limit:
                alive = [r for r in alive if r.state() not in TERMINAL]
                if len(alive) >= limit:
                    time.sleep(0.2)
            sub = self.submit(run, argv, cwd, env)
            subs.append(sub)
            if sub.state not in TERMINAL:
                alive.append(run)
        return subs

    def status(self, runs: list) -> dict[str, dict[str, Any]]:
        return {run.id: run.raw_status() for run in runs}

    def log_path(self, run) -> Path:
        return run.log_path

    def cancel(self, run, grace: float = 10.0) -> dict[str, Any]:
        from expkit.runs.control import stop

        return stop(run, grace)
