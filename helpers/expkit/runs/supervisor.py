"""The small process that outlives `expkit launch`: it starts the command and records how it ended.

Started by the launcher in its own session with the run's environment; reads {argv, cwd} from stdin,
starts the command in a session of its own (its process group = its pid) with stdout+stderr in
stdout.log, tells the launcher the pid through a pipe, waits, and writes the final status.json.
Standard library only, so it starts in milliseconds.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from expkit import logpump
from expkit.fsutil import atomic_write_json, read_json
from expkit.redact import SCRUB_ENV
from expkit.runs import process
from expkit.runs.layout import LOG, STATUS, STOP_REQUEST
from expkit.runs.outputs import expand_run_dir
from expkit.timeutil import now_iso


def _notify(fd: int, message: dict) -> None:
    try:
        os.write(fd, (json.dumps(message) + "\n").encode())
        os.close(fd)
    except OSError:
        pass  # the launcher is gone: nothing to tell


def _exit_reason(rc: int) -> tuple[str, dict]:
    if rc >= 0:
        return ("exited with code 0" if rc == 0 else f"exited with code {rc}"), {"exit_code": rc, "signal": None}
    sig = -rc
    return f"killed by {process.signal_name(sig)}", {"exit_code": None, "signal": sig,
                                                      "signal_name": process.signal_name(sig)}


def _write_status(path: Path, status: dict) -> None:
    """Atomically; when the disk is full (no room for the temp file), overwrite the existing file in place."""
    try:
        atomic_write_json(path, status)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        data = (json.dumps(status, indent=2, default=str) + "\n").encode()
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, data)
            os.ftruncate(fd, len(data))
            os.fsync(fd)
        finally:
            os.close(fd)


def _disk_full(run_dir: Path, log_error: OSError | None) -> bool:
    if log_error is not None and log_error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    try:
        if shutil.disk_usage(run_dir).free < (256 << 10):
            return True
        with open(run_dir / LOG, "rb") as fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - (64 << 10)))
            tail = fh.read()
    except OSError:
        return False
    return b"No space left on device" in tail or b"[Errno 28]" in tail


def _start_sampler(run_dir: Path, pid: int):
    """RSS/GPU samples into resources.jsonl while the command runs (off with EXPKIT_SAMPLE=0)."""
    from expkit.monitor import resources

    if not resources.enabled():
        return None
    sampler = resources.Sampler(run_dir, pid, pid, os.environ.get("CUDA_VISIBLE_DEVICES"), resources.interval())
    sampler.start()
    return sampler


def run(run_dir: Path, notify_fd: int) -> int:
    spec = json.loads(sys.stdin.read())
    status_path = run_dir / STATUS
    status = read_json(status_path, default={}) or {}
    boot = process.boot_id()
    status.update(supervisor_pid=os.getpid(), supervisor_start_ticks=process.start_ticks(os.getpid()),
                  boot_id=boot, host=os.uname().nodename)

    child_pgid: list[int] = []

    def forward(signum, _frame):
        if child_pgid:
            try:
                os.killpg(child_pgid[0], signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, forward)

    # the exact secret values expkit masked for this run: scrubbed from the log as it is written (only then does
    # the output go through a pump process; otherwise the command writes to the log directly)
    secrets = logpump.secrets_from(os.environ.pop(SCRUB_ENV, None))
    log = open(run_dir / LOG, "ab", buffering=0)
    # the pump closes the launcher's pipe: the launcher waits for it to close
    out, pump = logpump.start(log.fileno(), secrets, close=(notify_fd,)) if secrets else (log.fileno(), None)
    try:
        argv = expand_run_dir(spec["argv"], str(run_dir))
        child = subprocess.Popen(argv, cwd=spec["cwd"], stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            reason = f"command not found: {spec['argv'][0]}"
        elif isinstance(exc, PermissionError):
            reason = f"permission denied: {spec['argv'][0]} is not executable"
        else:
            reason = f"could not start {spec['argv'][0]}: {exc.strerror or exc}"
        if pump is not None:
            os.close(out)  # nothing will write: the pump sees the end at once
        try:
            log.write(f"expkit: {reason}\n".encode())
        except OSError:
            pass
        now = now_iso()
        status.update(state="failed", started_at=now, ended_at=now, exit_code=None, signal=None, reason=reason)
        _write_status(status_path, status)
        _notify(notify_fd, {"ok": False, "reason": reason})
        return 1

    child_pgid.append(child.pid)
    status.update(state="running", pid=child.pid, pgid=child.pid, pid_start_ticks=process.start_ticks(child.pid),
                  started_at=now_iso())
    _write_status(status_path, status)
    _notify(notify_fd, {"ok": True, "pid": child.pid})
    sampler = _start_sampler(run_dir, child.pid)

    if pump is not None:
        os.close(out)  # the command holds the pipe now: the pump ends when it (and its children) close it
    rc = child.wait()
    log_error = logpump.result(pump) if pump is not None else None
    ended = now_iso()
    if sampler is not None:
        sampler.stop()
        sampler.join(timeout=5)
        status["resources"] = {"samples": sampler.samples, "peak_rss_mib": sampler.peak_rss_mib}
    reason, fields = _exit_reason(rc)
    stop = read_json(run_dir / STOP_REQUEST)
    if stop:
        state = "stopped"
        reason = f"stopped by request ({reason})"
    else:
        state = "succeeded" if rc == 0 else "failed"
    if (log_error is not None or state == "failed") and state != "stopped" and _disk_full(run_dir, log_error):
        status["disk_full"] = True
        where = f"writing {LOG}" if log_error is not None else f"on the disk of {run_dir}"
        reason += f"; no space left on device ({where})"
        if log_error is not None and rc == 0:
            state, reason = "failed", f"the log could not be written: no space left on device ({reason})"
    status.update(state=state, ended_at=ended, reason=reason, **fields)
    _write_status(status_path, status)
    try:
        log.close()
    except OSError:
        pass
    return 0


def main() -> None:
    run_dir, fd = Path(sys.argv[1]), int(sys.argv[2])
    sys.exit(run(run_dir, fd))


if __name__ == "__main__":
    main()
