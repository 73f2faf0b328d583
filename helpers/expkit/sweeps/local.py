"""Where a trial starts: `start_trial` is the one function a Slurm or Modal backend replaces.

Locally each trial is an expkit run: prepare() writes its manifest (with the context captured once per sweep),
then its supervisor is forked from the scheduler rather than exec'd: the same supervisor code (which records the
exit in status.json and outlives the scheduler in its own session), without a Python start-up per job. That is
what lets the next job start within milliseconds of a slot freeing.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from expkit.runs.launch import LaunchRequest, prepare
from expkit.runs.store import Run


def start_trial(req: LaunchRequest, context: dict[str, Any] | None, on_prepared) -> tuple[Run, int]:
    """Prepare the run, let the caller record it (on_prepared(run)), then start it. Returns (run, supervisor pid)."""
    run, env, _warnings = prepare(req, context)
    on_prepared(run)
    cwd = Path(req.cwd or os.getcwd())
    return run, fork_supervisor(run, list(req.argv), cwd, env)


def fork_supervisor(run: Run, argv: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Fork a child that becomes the run's supervisor (new session, own log); returns its pid."""
    spec = json.dumps({"argv": argv, "cwd": str(cwd)})
    pid = os.fork()
    if pid:
        return pid
    try:  # the child: never return into the scheduler's code
        os.setsid()
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        devnull = os.open(os.devnull, os.O_RDWR)
        log = os.open(run.path / "supervisor.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(devnull, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.closerange(3, 65536)  # the scheduler's lock, pipes and files stay with the scheduler
        notify = os.open(os.devnull, os.O_WRONLY)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        sys.stdin = io.StringIO(spec)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True)
        from expkit.runs import supervisor

        code = supervisor.run(run.path, notify)
    except BaseException:
        try:
            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:
            pass
        code = 1
    os._exit(code)
