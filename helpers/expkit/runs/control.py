"""Follow, stop and wait for runs: everything is read back from the run dir, so any process can do it."""

from __future__ import annotations

import os
import re
import time
from typing import Iterator

from expkit.errors import ExpkitError
from expkit.runs.store import TERMINAL, Run

POLL_S = 0.1
BACKEND_POLL_S = (0.5, 10.0)  # a scheduler (squeue) is asked from every 0.5 s, slowing down to every 10 s


def _intervals(run: Run) -> Iterator[float]:
    """Local runs: /proc is cheap, poll fast. Scheduler runs: back off so a long wait does not load it."""
    if run.raw_status().get("backend", "local") == "local":
        while True:
            yield POLL_S
    interval, limit = BACKEND_POLL_S
    while True:
        yield interval
        interval = min(interval * 1.5, limit)


_BREAK = re.compile(rb"\r\n|\r|\n")
TAIL_MAX_BYTES = 16 << 20  # a tail never reads more than this, whatever the log (a 10 GB line included)
FOLLOW_MAX_LINE = 1 << 20  # a line growing past this (no \n, no \r) is printed in pieces
FOLLOW_READ = 1 << 20  # bytes read from the log at a time


def tail_lines(path, n: int) -> list[str]:
    """The last n lines of a file, read backwards in blocks from its end.

    `\\r` counts as a line break (tqdm redraws its bar on one line with `\\r`), so a 100 MB log without a newline
    costs one block, not a quadratic re-read. At most TAIL_MAX_BYTES are read; a longer first line is cut."""
    if n <= 0:
        return []
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return []
    blocks: list[bytes] = []
    breaks, pos = 0, 0
    with fh:
        fh.seek(0, os.SEEK_END)
        pos = end = fh.tell()
        while pos > 0 and breaks <= n and end - pos < TAIL_MAX_BYTES:
            step = min(65536, pos)
            pos -= step
            fh.seek(pos)
            block = fh.read(step)
            blocks.append(block)
            breaks += block.count(b"\n") + block.count(b"\r")
    data = b"".join(reversed(blocks))
    lines = [x.decode("utf-8", "replace") for x in _BREAK.split(data)]
    if lines and lines[-1] == "":
        lines.pop()  # the log ends with a line break
    if pos > 0 and len(lines) > n:
        lines = lines[-n:]
    elif pos > 0 and lines:
        lines[0] = "…" + lines[0][-(64 << 10):]  # a line longer than what is read: its end is what matters
    return lines[-n:]


def follow(run: Run, start_offset: int | None = None) -> Iterator[str]:
    """Yield text appended to the log until the run has ended and everything is read.

    Lines end at `\\n` or `\\r` (each tqdm redraw is shown as a line); reads are bounded, and a line that grows
    past FOLLOW_MAX_LINE is yielded in pieces, so memory stays small whatever the command prints."""
    path = run.log_path
    offset = start_offset if start_offset is not None else (path.stat().st_size if path.exists() else 0)
    pending = b""
    intervals = _intervals(run)
    next_check, ended = 0.0, False
    while True:
        if time.monotonic() >= next_check:
            ended = run.state() in (*TERMINAL, "unknown")  # unknown: a damaged status.json never changes
            next_check = time.monotonic() + next(intervals)
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                chunk = fh.read(FOLLOW_READ)
        except FileNotFoundError:
            chunk = b""
        if chunk:
            offset += len(chunk)
            data, hold = pending + chunk, b""
            if data.endswith(b"\r"):  # it may be the first half of \r\n: decide with the next read
                data, hold = data[:-1], b"\r"
            *lines, pending = _BREAK.split(data)
            pending += hold
            for line in lines:
                yield line.decode("utf-8", "replace") + "\n"
            if len(pending) > FOLLOW_MAX_LINE:
                yield pending.decode("utf-8", "replace") + "\n"
                pending = b""
            if len(chunk) == FOLLOW_READ:
                continue  # more to read now
        elif ended:
            if pending.rstrip(b"\r"):
                yield pending.rstrip(b"\r").decode("utf-8", "replace")
            return
        else:
            time.sleep(POLL_S)


def stop(run: Run, grace: float = 10.0) -> dict:
    """Stop a run where it executes: locally SIGTERM to its whole process tree, then SIGKILL after `grace`
    seconds; on Slurm or Modal the scheduler's cancel."""
    status = run.status()
    if status["state"] in TERMINAL:
        return {"run_id": run.id, "state": status["state"], "already_ended": True, "signals": []}
    from expkit.backends import for_run

    return for_run(run).cancel(run, grace)


def wait(run: Run, timeout: float | None = None) -> dict:
    """Block until the run ends; returns its status. Raises TimeoutError when `timeout` passes first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    intervals = _intervals(run)
    while True:
        status = run.status()
        if status["state"] in TERMINAL:
            return status
        if status["state"] == "unknown":
            raise ExpkitError(f"cannot wait for run {run.id}: {status.get('reason')}",
                              f"inspect {run.path} (its status.json was damaged); "
                              f"`expkit runs logs {run.id}` still shows its log")
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError
        pause = next(intervals)
        time.sleep(pause if deadline is None else min(pause, max(0.0, deadline - time.monotonic())))


class RemoteJob:
    """One prepared run submitted to a backend, as a handle to wait on (`expkit plan run --backend slurm`)."""

    def __init__(self, backend: str, run: Run, argv: list[str], cwd, env: dict[str, str],
                 timeout: float | None = None, **options):
        from expkit import backends

        self.backend = backends.get(backend, **options)
        self.backend.check()
        self.run, self.timeout = run, timeout
        self.submission = self.backend.submit(run, argv, cwd, env)

    def wait(self) -> dict:
        """Block until the run ends; past `timeout` (counted from submission) cancel it and report the timeout."""
        try:
            st = wait(self.run, self.timeout)
        except TimeoutError:
            self.kill()
            return {"state": "failed", "reason": f"timed out after {self.timeout:g}s: cancelled",
                    "exit_code": None, "signal": None}
        return {k: st.get(k) for k in ("state", "reason", "exit_code", "signal")}

    def kill(self) -> None:
        self.backend.cancel(self.run)


def exit_code_of(status: dict) -> int:
    """What `expkit runs wait` exits with: the run's own exit code, 128+signal, 1 for lost."""
    if status.get("exit_code") is not None:
        return int(status["exit_code"])
    if status.get("signal"):
        return 128 + int(status["signal"])
    return 0 if status["state"] == "succeeded" else 1
