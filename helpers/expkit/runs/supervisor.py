"""The small process that outlives `expkit launch`: it starts the command and records how it ended.

Started by the launcher in its own session with the run's environment; reads {argv, cwd} from stdin,
starts the command in a session of its own (its process group = its pid) with stdout+stderr in
stdout.log, tells the launcher the pid through a pipe, waits, and writes the final status.json.
Standard library only, so it starts in milliseconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from expkit.fsutil import atomic_write_json, read_json
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

    log = open(run_dir / LOG, "ab", buffering=0)
    try:
        argv = expand_run_dir(spec["argv"], str(run_dir))
        child = subprocess.Popen(argv, cwd=spec["cwd"], stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            reason = f"command not found: {spec['argv'][0]}"
        elif isinstance(exc, PermissionError):
            reason = f"permission denied: {spec['argv'][0]} is not executable"
        else:
            reason = f"could not start {spec['argv'][0]}: {exc.strerror or exc}"
        log.write(f"expkit: {reason}\n".encode())
        now = now_iso()
        status.update(state="failed", started_at=now, ended_at=now, exit_code=None, signal=None, reason=reason)
        atomic_write_json(status_path, status)
        _notify(notify_fd, {"ok": False, "reason": reason})
        return 1

    child_pgid.append(child.pid)
    status.update(state="running", pid=child.pid, pgid=child.pid, pid_start_ticks=process.start_ticks(child.pid),
                  started_at=now_iso())
    atomic_write_json(status_path, status)
    _notify(notify_fd, {"ok": True, "pid": child.pid})
    sampler = _start_sampler(run_dir, child.pid)

    rc = child.wait()
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
    status.update(state=state, ended_at=ended, reason=reason, **fields)
    atomic_write_json(status_path, status)
    log.close()
    return 0


def main() -> None:
    run_dir, fd = Path(sys.argv[1]), int(sys.argv[2])
    sys.exit(run(run_dir, fd))


if __name__ == "__main__":
    main()
