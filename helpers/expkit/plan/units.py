"""The bookkeeping of one unit (a sub-experiment at one seed), shared by local, Slurm and Modal plan runs.

`plan run` (expkit.plan.execute) and `plan sync` (expkit.plan.sync, which brings Modal units back) both turn a
unit's outcome and its result.json into the unit's record and its run's final status the same way, and hold the
same lock on results.yaml while they write it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expkit.errors import ExpkitError
from expkit.runs import process
from expkit.runs.store import Run
from expkit.timeutil import now_iso

SUBMITTED = "submitted"  # a unit handed to Modal and not brought back yet
RESULT = "result.json"  # what the plan runtime writes in the run dir (expkit_plan_runtime.RESULT)


def read_result(run: Run) -> dict[str, Any]:
    """A unit's result.json, passed through the redactor (the handler may have returned a token or a URL with a
    password): rewritten in the run dir when anything was masked, since run dirs are shared."""
    from expkit.fsutil import atomic_write_json, read_json
    from expkit.redact import Redactor, secret_values

    try:
        result = read_json(run.path / RESULT) or {}
    except (OSError, ValueError):  # cut short by a crash: the unit failed, its log says why
        return {}
    clean = Redactor(secret_values(os.environ)).strings(result)
    if clean != result:
        atomic_write_json(run.path / RESULT, clean)
    return clean


@dataclass
class SubJob:
    """Everything needed to start one sub-experiment run, on any backend."""
    run: Run
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    timeout: float | None
    backend_options: dict[str, Any] = field(default_factory=dict)  # partition, time ... for a cluster backend


@dataclass
class Outcome:
    state: str  # succeeded | failed
    reason: str | None
    exit_code: int | None = None
    signal: int | None = None


def in_flight(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(sub, record) of every unit submitted to Modal and not yet brought back."""
    runs = (doc.get("expkit") or {}).get("runs") or {}
    return [(sub, r) for sub, items in runs.items() for r in items if r.get("status") == SUBMITTED]


def results_lock(lock_path: Path, results_file: Path):
    """One writer per results.yaml: a second concurrent run would overwrite the first one's records.
    Returns the open lock file; closing it (or the process ending) releases the lock."""
    import fcntl

    fh = open(lock_path, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        raise ExpkitError(f"another `expkit plan run` is writing {results_file} ({holder})",
                          "wait for it to finish (see `expkit runs list --state running`), then run again") from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()}\n")
    fh.flush()
    return fh


def finish_status(run: Run, outcome: Outcome, reason: str | None = None, stopped: bool = False,
                  state: str | None = None, durable: bool = True) -> None:
    """The run's final status.json: how the unit ended. durable=False when results.yaml, fsynced right after,
    records the same end."""
    raw = run.raw_status()
    stamp = now_iso()
    raw.setdefault("started_at", stamp)
    raw.update(state="stopped" if stopped else (state or outcome.state), ended_at=stamp,
               reason=reason or outcome.reason or "exited with code 0", exit_code=outcome.exit_code,
               signal=outcome.signal, signal_name=process.signal_name(outcome.signal) if outcome.signal else None)
    run.write_status(raw, durable)


def unit_result(outcome: Outcome, result: dict[str, Any], run: Run) -> dict[str, Any]:
    """The unit's record from how its process ended and the result.json it wrote (if any)."""
    if outcome.state == "succeeded" and result.get("ok"):
        r = result["result"]
        return {"status": "succeeded", "finding": r["finding"], "metrics": r["metrics"], "artifacts": r["artifacts"]}
    err = result.get("error") if result and not result.get("ok") else None
    if err:
        reason = f"{err['type']}: {err['message']}".splitlines()[0]
        tb = err.get("traceback")
    else:
        reason = outcome.reason or "exited without writing a result"
        if outcome.state == "succeeded":
            reason = "the sub-experiment exited without a result (did the handler call os._exit?)"
        tb = log_tail(run.log_path)
    return {"status": "failed", "reason": reason, "traceback": tb}


def log_tail(path: Path, limit: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return ""
