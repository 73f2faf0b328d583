"""Where a run executes: local (default), slurm, modal, behind one small protocol.

A backend takes a prepared run (its run dir, manifest and status.json already written by
`expkit.runs.launch.prepare`) and makes it execute somewhere. Everything else (the run dir, the manifest,
`runs list/show/logs/stop/wait`) is shared, so a user follows a Slurm job exactly like a local run.

The API for `launch`, `plan run` and `sweep run`:

    from expkit import backends
    from expkit.runs.launch import LaunchRequest, prepare

    be = backends.get("slurm", partition="gpu", time="4:00:00", gpus=1)   # options checked here (ExpkitError)
    be.check()                                      # raises ExpkitError with a hint when unusable here
    backends.ready("slurm", partition="gpu")        # get + check + `sbatch --test-only` of the options
    req = LaunchRequest(argv, backend="slurm", backend_options=be.options(), ...)
    run, env, warnings = prepare(req)               # or prepare(req, context) for many runs of one code state
    sub = be.submit(run, argv, cwd, env)            # -> Submission(run_id, job_id, state, reason)
    subs = be.submit_array([(run, argv, env), ...], cwd, limit=8)   # a sweep: one Slurm job array, %8 at a time
    be.status([run, ...])                           # {run_id: status dict}, one scheduler query for all
    be.log_path(run)                                # where the run's output is (stdout.log in the run dir)
    be.cancel(run)                                  # {"run_id", "state", "signals"}

    backends.refresh(runs)                          # batched live status for runs of any backends
    backends.check_all()                            # what `expkit backends` prints

`submit` and `submit_array` raise `SubmitRejected` (an ExpkitError, exit 2) with the scheduler's own message and
a hint when the job is refused; the run is then recorded as failed, never as running.

One-call helper:
    backends.launch_runs(name, items, cwd, limit=None, **options)
        get + check + submit (one item) or submit_array, for runs already prepared
Above this layer, `expkit.runs.launch.submit_requests` prepares and submits many LaunchRequests at once (the sweep
path) and `expkit.runs.control.RemoteJob` submits one prepared run and waits on it (the plan path).

Prepare runs for a backend with `LaunchRequest(..., backend=name, backend_options=be.options())`: the manifest and
status.json then name the backend, which is how `runs list/show/stop/wait` know to ask Slurm or Modal.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Protocol

from expkit.errors import ExpkitError

NAMES = ("local", "slurm", "modal")


@dataclass
class Submission:
    run_id: str
    job_id: str | None
    state: str
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Availability:
    name: str
    usable: bool
    detail: str
    hint: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class SubmitRejected(ExpkitError):
    """The backend refused the job: its own message, an expkit hint, exit 2."""


class Backend(Protocol):
    name: str

    def options(self) -> dict[str, Any]: ...
    def availability(self) -> Availability: ...
    def check(self) -> None: ...
    def submit(self, run, argv: list[str], cwd: Path, env: dict[str, str]) -> Submission: ...
    def submit_array(self, items: list[tuple[Any, list[str], dict[str, str]]], cwd: Path,
                     limit: int | None = None) -> list[Submission]: ...
    def status(self, runs: list) -> dict[str, dict[str, Any]]: ...
    def log_path(self, run) -> Path: ...
    def cancel(self, run, grace: float = 10.0) -> dict[str, Any]: ...


def get(name: str = "local", **options: Any) -> Backend:
    """The backend called `name`, configured with `options` (each backend checks its own)."""
    name = (name or "local").lower()
    if name == "local":
        from expkit.backends.local import LocalBackend

        return LocalBackend(**options)
    if name == "slurm":
        from expkit.backends.slurm import SlurmBackend

        return SlurmBackend(**options)
    if name == "modal":
        from expkit.backends.modal import ModalBackend

        return ModalBackend(**options)
    close = difflib.get_close_matches(name, NAMES, n=1)
    raise ExpkitError(f"unknown backend '{name}'",
                      (f"did you mean {close[0]}? " if close else "") + f"choose one of: {', '.join(NAMES)}")


def ready(name: str, **options: Any) -> Backend:
    """The backend, checked usable here and, where it can (Slurm: `sbatch --test-only`), its options accepted by
    the scheduler: what a plan or sweep calls before it records anything."""
    be = get(name, **options)
    be.check()
    if hasattr(be, "preflight"):
        be.preflight()
    return be


def for_run(run) -> Backend:
    """The backend a run was submitted to, with the options recorded in its manifest."""
    info = (run.manifest().get("backend") or {})
    return get(info.get("name", "local"), **(info.get("options") or {}))


def check_all() -> list[Availability]:
    """Each backend: usable here or not, why, and what to install or configure."""
    return [get(name).availability() for name in NAMES]


def refresh(runs: Iterable) -> dict[str, dict[str, Any]]:
    """Live status of non-local, not yet ended runs: one batched query per backend. {run_id: raw status}."""
    from expkit.runs.layout import TERMINAL

    groups: dict[str, list] = {}
    for run in runs:
        raw = run.raw_status()
        name = raw.get("backend", "local")
        if name != "local" and raw.get("state") not in TERMINAL:
            groups.setdefault(name, []).append(run)
    out: dict[str, dict[str, Any]] = {}
    for name, group in groups.items():
        try:
            be = get(name)
        except ExpkitError:
            continue
        out.update(be.status(group))
    return out


def launch_runs(name: str, items: list[tuple[Any, list[str], dict[str, str]]], cwd: Path,
                limit: int | None = None, **options: Any) -> list[Submission]:
    """Submit prepared runs: one run -> submit, several -> submit_array (a job array on Slurm)."""
    be = get(name, **options)
    be.check()
    if len(items) == 1 and limit is None:
        run, argv, env = items[0]
        return [be.submit(run, argv, cwd, env)]
    return be.submit_array(items, cwd, limit=limit)
