"""Where a trial starts: the local backend. A Slurm or Modal backend replaces this class (prepare + start).

Locally each trial is an expkit run: prepare() writes its manifest (with the context captured once per sweep) and
a queued status; start() forks the run's supervisor from the scheduler rather than exec'ing it: the same
supervisor code (which records the exit in status.json and outlives the scheduler in its own session), without a
Python start-up per job. With CPU slots the scheduler prepares the next runs while the current ones work, so a
freed slot costs one fork: that is what keeps 200 short jobs within a few percent of `xargs -P`.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expkit.runs import supervisor  # imported here, not in each forked child
from expkit.runs.launch import LaunchRequest, prepare
from expkit.runs.store import Run


@dataclass
class Prepared:
    run: Run
    argv: list[str]
    cwd: Path
    env: dict[str, str]


class LocalBackend:
    name = "local"

    def prepare(self, req: LaunchRequest, context: dict[str, Any] | None) -> Prepared:
        run, env, _warnings = prepare(req, context)
        return Prepared(run, list(req.argv), Path(req.cwd or os.getcwd()), env)

    def start(self, p: Prepared) -> int:
        """Start a prepared run; returns the pid the scheduler waits on (its supervisor)."""
        return fork_supervisor(p.run, p.argv, p.cwd, p.env)

    def discard(self, run: Run) -> None:
        """Remove a run that was prepared but never started (nothing ran, nothing to keep)."""
        if run.raw_status().get("state") == "queued":
            shutil.rmtree(run.path, ignore_errors=True)


def fork_supervisor(run: Run, argv: list[str], cwd: Path, env: dict[str, str]) -> int:
    """Fork a child that becomes the run's supervisor (new session, own log); returns its pid."""
    spec = json.dumps({"argv": argv, "cwd": str(cwd)})
    pid = os.fork()
    if pid:
        return pid
    code = 1
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
        code = supervisor.run(run.path, notify)
    except BaseException:
        try:
            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:
            pass
    os._exit(code)
