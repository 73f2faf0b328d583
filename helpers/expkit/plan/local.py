"""Local sub-experiments: a unit server in the project's Python forks one isolated process per unit.

The runner (expkit's interpreter) starts `expkit_plan_runtime.py --serve` once per experiment run in the chosen
interpreter and sends it one line per unit; the server forks a child in its own session that runs the handler.
Forking from a process that has imported only the standard library costs a fraction of an interpreter start,
and keeps every promise of a separate process: units do not share state, a timeout kills the whole process
group, the child dies with the server and the server with the runner (PR_SET_PDEATHSIG), so killing the runner
leaves no orphan.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from expkit.errors import ExpkitError
from expkit.plan.units import Outcome, SubJob
from expkit.runs import process
from expkit.timeutil import now_iso

RUNTIME = str(Path(__file__).resolve().parent / "runtime" / "expkit_plan_runtime.py")


def runtime_argv(python: str) -> list[str]:
    """The command that runs one unit's job.json (run dir from EXPKIT_RUN_DIR): what a manifest records and what
    a Slurm job executes."""
    return [python, RUNTIME]


class UnitServer:
    """The project interpreter's unit server. `hello` says which Python it is and whether it has wandb."""

    def __init__(self, python: str, cwd: Path, env: dict[str, str], start_timeout: float = 120):
        self.python = python
        self._err = tempfile.TemporaryFile()
        self._buf = b""
        try:
            self.proc = subprocess.Popen([python, RUNTIME, "--serve", str(os.getpid())], cwd=cwd, env=env,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err,
                                         close_fds=True)
        except OSError as exc:
            self._err.close()
            raise ExpkitError(f"cannot start the project's interpreter {python}: {exc.strerror or exc}",
                              "pass a working interpreter with --python, or fix `python:` in research_plan.yaml")
        self.hello = self._read(start_timeout)
        if not self.hello or not self.hello.get("ready"):
            self.proc.kill()
            self.proc.wait()
            why = self.stderr_tail(400)
            self.close()
            raise ExpkitError(f"the project's interpreter {python} could not start expkit's plan runtime"
                              + (f": {why}" if why else ""),
                              "handlers need Python 3.8 or newer; pass another interpreter with --python")

    @property
    def has_wandb(self) -> bool:
        return bool(self.hello.get("wandb"))

    def stderr_tail(self, limit: int = 2000) -> str:
        try:
            self._err.seek(0)
            return self._err.read().decode("utf-8", "replace").strip()[-limit:]
        except (OSError, ValueError):
            return ""

    def _read(self, timeout: float | None) -> dict[str, Any] | None:
        """The next message, or None on timeout or when the server is gone. Lines that are not messages (a
        sitecustomize that prints at start-up) are skipped."""
        deadline = None if timeout is None else time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" not in self._buf:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                ready, _, _ = select.select([fd], [], [], left)
                if not ready:
                    return None
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self._buf += chunk
            line, self._buf = self._buf.split(b"\n", 1)
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if isinstance(msg, dict):
                return msg

    def start(self, run_dir: Path, cwd: Path, env: dict[str, str], log: Path) -> int:
        """Fork one unit; its pid (also its process group)."""
        request = {"run_dir": str(run_dir), "cwd": str(cwd), "env": env, "log": str(log)}
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode("utf-8"))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass
        msg = self._read(60)
        if not msg or "started" not in msg:
            raise ExpkitError(f"the plan runtime in {self.python} stopped answering"
                              + (f": {self.stderr_tail()}" if self.stderr_tail() else ""),
                              "run again; if it repeats, check that interpreter with `expkit plan check`")
        return int(msg["started"])

    def wait(self, timeout: float | None) -> int | None:
        """The unit's wait status (as os.waitpid gives it), or None when `timeout` passed first."""
        msg = self._read(timeout)
        if msg is None:
            if self.proc.poll() is not None:
                raise ExpkitError(f"the plan runtime in {self.python} exited" +
                                  (f": {self.stderr_tail()}" if self.stderr_tail() else ""),
                                  "run again; if it repeats, check that interpreter with `expkit plan check`")
            return None
        return int(msg["status"])

    def close(self) -> None:
        """End the server: SIGTERM makes it kill a unit still running (an interrupted run) with everything that
        unit started, then exit; an idle server just exits."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self._err.close()


def supervised_status() -> dict[str, Any]:
    """A local unit's status.json fields before its pid is known: running, under this runner. Written when the
    run is prepared (before the fork: the unit may start before the runner hears its pid), so a runner killed
    from then on leaves a lost run, never one that reads as queued forever."""
    me = os.getpid()
    return {"state": "running", "supervisor_pid": me, "supervisor_start_ticks": process.start_ticks(me),
            "boot_id": process.boot_id(), "host": os.uname().nodename, "started_at": now_iso()}


class LocalProcess:
    """A sub-experiment forked by the unit server: a separate process without an interpreter start-up."""

    def __init__(self, job: SubJob, server: UnitServer):
        self.job = job
        self.server = server
        self.pid = server.start(job.run.path, job.cwd, job.env, job.run.log_path)
        self.started = time.monotonic()
        self._status: int | None = None
        raw = job.run.raw_status()
        raw.update(supervised_status(), pid=self.pid, pgid=self.pid, pid_start_ticks=process.start_ticks(self.pid))
        job.run.write_status(raw, durable=False)  # replaced when it ends

    def kill(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def wait(self) -> Outcome:
        timeout = self.job.timeout
        status = self.server.wait(max(0.0, self.started + timeout - time.monotonic()) if timeout else None)
        if status is None:  # timed out
            try:  # where was it stuck? the unit writes its stack to stdout.log, then dies of SIGUSR1
                os.kill(self.pid, signal.SIGUSR1)
            except ProcessLookupError:
                pass
            if self.server.wait(5) is None:  # it would not die of it (a handler of its own for SIGUSR1)
                self.kill()
                self.server.wait(30)  # the server reaps it
            self.kill()  # anything it started
            return Outcome("failed", f"timed out after {timeout:g}s: killed", None, signal.SIGKILL)
        self.kill()  # anything the handler left running in its group
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            what = {signal.SIGSEGV: " (segmentation fault)", signal.SIGKILL: " (out of memory, or killed)",
                    signal.SIGABRT: " (aborted)", signal.SIGBUS: " (bus error)"}.get(sig, "")
            return Outcome("failed", f"killed by {process.signal_name(sig)}{what}", None, sig)
        code = os.WEXITSTATUS(status)
        return Outcome("succeeded" if code == 0 else "failed", None if code == 0 else f"exited with code {code}",
                       code, None)





class ProjectPython:
    """The interpreter chosen for an experiment and, from the first unit on, its unit server."""

    def __init__(self, path: str, how: str, cwd: Path):
        self.path, self.how, self.cwd = path, how, cwd
        self._server: UnitServer | None = None

    def server(self) -> UnitServer:
        if self._server is None:
            self._server = UnitServer(self.path, self.cwd, dict(os.environ))
        return self._server

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
