"""The run-dir store: one folder per run under the runs dir, readable by any fresh process.

    runs/<name>_<YYYYmmdd-HHMMSS>/
        manifest.json   what was run, where, with what code, seed, config, environment, hardware
        status.json     state, pid identity, start/end, exit code or signal (written atomically)
        stdout.log      the command's stdout+stderr
        git.patch       the uncommitted diff (tracked changes and untracked text files)
        config.<ext>    a copy of --config
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from expkit.errors import ExpkitError
from expkit.fsutil import atomic_write_json, read_json
from expkit.redact import Redactor
from expkit.runs import process
from expkit.runs.layout import LOG, MANIFEST, STATES, STATUS, STOP_REQUEST, TERMINAL  # noqa: F401 (the store's words)
from expkit.timeutil import seconds_between


def project_root(start: Path | None = None) -> Path:
    """The nearest ancestor holding .git, else the starting folder."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def default_runs_dir(cwd: Path | None = None) -> Path:
    env = os.environ.get("EXPKIT_RUNS_DIR")
    if env:
        return Path(env)
    return project_root(cwd) / "runs"


def resolve_runs_dir(runs_dir: Path | str | None) -> Path:
    return Path(runs_dir) if runs_dir else default_runs_dir()


class Run:
    """One run directory; every fact is read from disk, so any process can inspect any run."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Run) and other.path == self.path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def log_path(self) -> Path:
        return self.path / LOG

    def manifest(self) -> dict[str, Any]:
        try:
            data = read_json(self.path / MANIFEST, default={}) or {}
        except (OSError, ValueError):  # empty, truncated, binary or unreadable: shown as missing, never a crash
            return {}
        return data if isinstance(data, dict) else {}

    def raw_status(self) -> dict[str, Any]:
        try:
            data = read_json(self.path / STATUS, default={}) or {}
        except (OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not valid JSON (empty, truncated or binary)"
            return {"run_id": self.id, "state": "unknown", "unreadable": True,
                    "reason": f"{STATUS} cannot be read: {why}"}
        if not isinstance(data, dict):
            return {"run_id": self.id, "state": "unknown", "unreadable": True,
                    "reason": f"{STATUS} does not hold a JSON object"}
        return data

    def write_status(self, status: dict[str, Any], durable: bool = True) -> None:
        """durable=False for a state about to be replaced (queued, running): atomic, without the fsync."""
        atomic_write_json(self.path / STATUS, Redactor().strings(status), durable)

    live = None  # a backend status fetched in one batch by RunStore.all(); used once by status()
    prefetched = None  # status.json as RunStore.all() read it; used once by status(), so it is read once

    def status(self) -> dict[str, Any]:
        """The recorded status with the live state: /proc for local runs, the backend (Slurm ...) for others."""
        raw, self.prefetched = (self.prefetched, None) if self.prefetched is not None else (self.raw_status(), None)
        if _needs_backend(raw):
            live, self.live = self.live, None  # a batched answer is used once, then asked afresh
            if live is None:
                from expkit.backends import refresh

                live = refresh([self]).get(self.id, raw)
            return derive_status(live)
        return derive_status({**raw, "run_dir": str(self.path)})

    def state(self) -> str:
        return self.status()["state"]


def _needs_backend(raw: dict[str, Any]) -> bool:
    return raw.get("backend", "local") != "local" and raw.get("state") not in TERMINAL


def derive_status(raw: dict[str, Any]) -> dict[str, Any]:
    """Recorded state, corrected by what /proc says now.

    running + the process (same pid, start time, boot) alive        -> running
    running + process gone + supervisor still alive (finishing up)  -> running
    running + both gone without a recorded end                      -> lost
    """
    st = dict(raw)
    run_dir = st.pop("run_dir", None)  # given by Run.status(), not part of the status
    state = st.get("state") or "queued"
    backend = st.get("backend", "local")
    if state == "queued" and backend == "local" and _creator_gone(st):
        state = "failed"
        st["reason"] = "launcher died: the process that created this run ended before starting it"
        st.setdefault("ended_at", st.get("created_at"))
    if state == "running" and backend == "local":
        host = st.get("host")
        if host and host != os.uname().nodename:
            st["note"] = f"running on {host}: liveness cannot be checked from here"
        else:
            child = process.is_same_process_alive(st.get("pid"), st.get("pid_start_ticks"), st.get("boot_id"))
            sup = process.is_same_process_alive(
                st.get("supervisor_pid"), st.get("supervisor_start_ticks"), st.get("boot_id")
            )
            if not child and not sup:
                state = "lost"
                st["reason"] = (
                    "the process is gone and no exit was recorded "
                    "(machine rebooted, or the run and its supervisor were killed)"
                )
                if _disk_full(run_dir):
                    st["reason"] = "the process is gone and no exit was recorded: the disk of its run dir is full"
                    st["disk_full"] = True
            elif child and not sup:
                st["note"] = "the supervisor is gone: the exit code of this run cannot be recorded"
    st["state"] = state
    st["duration_s"] = seconds_between(st.get("started_at"), st.get("ended_at")) if st.get("started_at") else None
    return st


def _disk_full(run_dir: str | None) -> bool:
    if not run_dir:
        return False
    try:
        return shutil.disk_usage(run_dir).free < (256 << 10)
    except OSError:
        return False


def _creator_gone(st: dict[str, Any]) -> bool:
    """A queued local run whose creator (launch, a sweep or a plan runner) is gone will never start."""
    creator = st.get("creator")
    if not isinstance(creator, dict) or st.get("supervisor_pid"):
        return False
    if creator.get("host") and creator["host"] != os.uname().nodename:
        return False  # cannot be checked from here
    return not process.is_same_process_alive(creator.get("pid"), creator.get("start_ticks"), creator.get("boot_id"))


class RunStore:
    def __init__(self, runs_dir: Path | str | None = None):
        self.root = resolve_runs_dir(runs_dir)

    def all(self, live: bool = True) -> list[Run]:
        """Every run, newest first (by the timestamp in the id, then by name).

        With `live`, runs on other backends (Slurm ...) get their status in one batched query per backend.
        """
        if not self.root.is_dir():
            return []
        runs = [Run(p) for p in self.root.iterdir() if p.is_dir() and (p / MANIFEST).exists()]
        runs.sort(key=lambda r: (_id_stamp(r.id), r.path.stat().st_mtime), reverse=True)
        if live:
            for run in runs:
                run.prefetched = run.raw_status()
            pending = [run for run in runs if _needs_backend(run.prefetched)]
            if pending:  # the backends module (and Slurm's commands) only when a remote run is still going
                from expkit.backends import refresh

                statuses = refresh(pending)
                for run in pending:
                    if run.id in statuses:
                        run.live = statuses[run.id]
        return runs

    def get(self, ref: str) -> Run:
        """Resolve a full id, a unique prefix, or `latest`."""
        if not ref:
            raise ExpkitError("no run id given", "give a run id, a unique prefix of one, or `latest`")
        if "/" in ref or ref in (".", ".."):
            path = Path(ref)
            if (path / MANIFEST).exists():
                return Run(path.resolve())
            raise ExpkitError(f"{ref} is not a run directory (no {MANIFEST})", "give a run id from `expkit runs list`")
        runs = self.all(live=False)
        if not runs:
            raise ExpkitError(f"no runs in {self.root}", "launch one with `expkit launch -- CMD`, or pass --runs-dir")
        if ref == "latest":
            return runs[0]
        exact = [r for r in runs if r.id == ref]
        if exact:
            return exact[0]
        matches = [r for r in runs if r.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            shown = ", ".join(r.id for r in matches[:5]) + (" ..." if len(matches) > 5 else "")
            raise ExpkitError(f"run id '{ref}' is ambiguous: {len(matches)} runs match", f"did you mean one of: {shown}")
        import difflib

        close = difflib.get_close_matches(ref, [r.id for r in runs], n=3, cutoff=0.4)
        hint = f"closest ids: {', '.join(close)}" if close else "see `expkit runs list` for the run ids"
        raise ExpkitError(f"no run '{ref}' in {self.root}", hint)


_STAMP = re.compile(r"_(\d{8}-\d{6})(?:-\d+)?$")


def _id_stamp(run_id: str) -> str:
    m = _STAMP.search(run_id)
    return m.group(1) if m else ""
