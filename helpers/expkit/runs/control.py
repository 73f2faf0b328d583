"""Follow, stop and wait for runs: everything is read back from the run dir, so any process can do it."""

from __future__ import annotations

import os
import signal
import time
from typing import Iterator

from expkit.fsutil import atomic_write_json
from expkit.runs import process
from expkit.runs.store import STOP_REQUEST, TERMINAL, Run
from expkit.timeutil import now_iso

POLL_S = 0.1
BACKEND_POLL_S = 1.0  # a scheduler (squeue) is asked at most this often


def _poll_interval(run: Run) -> float:
    return POLL_S if run.raw_status().get("backend", "local") == "local" else BACKEND_POLL_S


def tail_lines(path, n: int) -> list[str]:
    """The last n lines of a file, read from its end (a 10 GB log costs no more than a small one)."""
    if n <= 0:
        return []
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return []
    with fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        block, data = 65536, b""
        pos = end
        while pos > 0 and data.count(b"\n") <= n:
            step = min(block, pos)
            pos -= step
            fh.seek(pos)
            data = fh.read(step) + data
    lines = data.decode("utf-8", "replace").splitlines()
    return lines[-n:]


def follow(run: Run, start_offset: int | None = None) -> Iterator[str]:
    """Yield text appended to the log until the run has ended and everything is read."""
    path = run.log_path
    offset = start_offset if start_offset is not None else (path.stat().st_size if path.exists() else 0)
    pending = b""
    interval = _poll_interval(run)
    checked, ended = 0.0, False
    while True:
        if time.monotonic() - checked >= interval:
            ended = run.state() in TERMINAL
            checked = time.monotonic()
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
        except FileNotFoundError:
            chunk = b""
        if chunk:
            offset += len(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", "replace") + "\n"
        elif ended:
            if pending:
                yield pending.decode("utf-8", "replace")
            return
        else:
            time.sleep(POLL_S)


def stop(run: Run, grace: float = 10.0) -> dict:
    """SIGTERM the run's whole process tree, SIGKILL what is left after `grace` seconds."""
    status = run.status()
    if status["state"] in TERMINAL:
        return {"run_id": run.id, "state": status["state"], "already_ended": True, "signals": []}
    if status.get("backend", "local") != "local":
        from expkit.backends import for_run

        return for_run(run).cancel(run, grace)
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


def wait(run: Run, timeout: float | None = None) -> dict:
    """Block until the run ends; returns its status. Raises TimeoutError when `timeout` passes first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    interval = _poll_interval(run)
    while True:
        status = run.status()
        if status["state"] in TERMINAL:
            return status
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError
        time.sleep(interval)


def exit_code_of(status: dict) -> int:
    """What `expkit runs wait` exits with: the run's own exit code, 128+signal, 1 for lost."""
    if status.get("exit_code") is not None:
        return int(status["exit_code"])
    if status.get("signal"):
        return 128 + int(status["signal"])
    return 0 if status["state"] == "succeeded" else 1
