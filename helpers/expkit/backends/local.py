"""The local backend: a detached supervisor on this machine (`expkit.runs.supervisor`).

`start_supervisor` starts it and waits for the pid; the supervisor keeps status.json, which `runs.store` checks
against /proc, so `status()` only reads it back; `cancel` stops the run's whole process tree.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import expkit
from expkit.backends import Availability, Submission
from expkit.errors import ExpkitError
from expkit.fsutil import atomic_write_json
from expkit.runs import process
from expkit.runs.layout import STOP_REQUEST, TERMINAL
from expkit.timeutil import now_iso

POLL_S = 0.1


def start_supervisor(run, argv: list[str], cwd: Path, env: dict[str, str],
                     timeout: float = 30) -> tuple[int | None, str | None]:
    """Start the supervisor detached and wait for it to report the pid (or why the command could not start)."""
    pkg_parent = str(Path(expkit.__file__).resolve().parent.parent)
    code = f"import sys; sys.path.insert(0, {pkg_parent!r}); from expkit.runs.supervisor import main; main()"
    read_fd, write_fd = os.pipe()
    with open(run.path / "supervisor.log", "ab") as sup_log:
        proc = subprocess.Popen([sys.executable, "-c", code, str(run.path), str(write_fd)], cwd=cwd, env=env,
                                stdin=subprocess.PIPE, stdout=sup_log, stderr=sup_log, pass_fds=(write_fd,),
                                start_new_session=True, close_fds=True)
    os.close(write_fd)
    try:
        proc.stdin.write(json.dumps({"argv": argv, "cwd": str(cwd)}).encode())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    data = b""
    deadline = time.monotonic() + timeout
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = pipe.read(4096)
            if not chunk:
                break
            data += chunk
    if not data:
        return None, f"the supervisor did not report within {timeout:.0f}s (see {run.path / 'supervisor.log'})"
    msg = json.loads(data.decode().splitlines()[0])
    return (msg["pid"], None) if msg.get("ok") else (None, msg.get("reason"))


def stop_process_tree(run, grace: float = 10.0) -> dict[str, Any]:
    """SIGTERM the run's whole process tree, SIGKILL what is left after `grace` seconds; record the stop."""
    status = run.status()
    if status["state"] in TERMINAL:
        return {"run_id": run.id, "state": status["state"], "already_ended": True, "signals": []}
    if status["state"] == "queued" or not status.get("pid"):
        raw = run.raw_status()
        raw.update(state="stopped", ended_at=now_iso(), reason="stopped before it started")
        run.write_status(raw)
        return {"run_id": run.id, "state": "stopped", "already_ended": False, "signals": []}
    atomic_write_json(run.path / STOP_REQUEST, {"requested_at": now_iso(), "grace_s": grace})
    pid, pgid = status["pid"], status.get("pgid")
    sent = []
    if process.is_same_process_alive(pid, status.get("pid_start_ticks"), status.get("boot_id")):
        process.signal_tree(pid, pgid, signal.SIGTERM)
        sent.append("SIGTERM")
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and process.live_tree(pid, pgid):
        time.sleep(POLL_S)
    if process.live_tree(pid, pgid):
        process.signal_tree(pid, pgid, signal.SIGKILL)
        sent.append("SIGKILL")
    # give the supervisor a moment to record the end
    end = time.monotonic() + 5
    while time.monotonic() < end and run.state() not in TERMINAL:
        time.sleep(POLL_S)
    final = run.status()
    if final["state"] not in ("stopped", "succeeded", "failed"):
        # the supervisor was gone (killed or machine trouble): record the stop ourselves
        raw = run.raw_status()
        raw.update(state="stopped", ended_at=now_iso(), exit_code=None,
                   reason=f"stopped by request ({' then '.join(sent) or 'no signal needed'}); "
                          "its supervisor was gone, so the exit code is unknown")
        run.write_status(raw)
        final = run.status()
    return {"run_id": run.id, "state": final["state"], "already_ended": False, "signals": sent,
            "reason": final.get("reason")}


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
        pid, reason = start_supervisor(run, argv, cwd, env)
        if pid is None and run.raw_status().get("state") == "queued":
            raw = run.raw_status()
            raw.update(state="failed", reason=reason, ended_at=now_iso())
            run.write_status(raw)
        st = run.status()
        return Submission(run.id, str(pid) if pid else None, st["state"], reason or st.get("reason"))

    def submit_array(self, items, cwd: Path, limit: int | None = None) -> list[Submission]:
        """Start the runs one after another, at most `limit` alive at once (None: all at once)."""
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
        return stop_process_tree(run, grace)
