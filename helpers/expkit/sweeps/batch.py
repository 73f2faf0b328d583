"""The scheduler's state on disk: a sweep or a queue is a folder, each job a small JSON file.

    <runs dir>/.sweeps/<group>/         (a sweep; the group is the sweep's name)
    <runs dir>/.queue/<name>/           (a queue filled by `expkit queue add`)
        batch.json          kind, name, settings, the sweep spec, why it stopped
        jobs/<id>.json      one job: command, params, state, attempts (each an expkit run id)
        scheduler.lock      held (flock) by the one scheduler working on this batch; freed by the kernel on kill -9

Each file is written atomically, and a job's attempt is recorded before its run starts, so a scheduler killed at
any point leaves a state the next one can read: a job never runs twice and never gets lost.
Job states: pending, running, succeeded, failed, stopped, early_stopped.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from pathlib import Path
from typing import Any, Iterator

from expkit.errors import ExpkitError
from expkit.fsutil import LockBusy, atomic_write_json, hold_lock, read_json
from expkit.timeutil import now_iso

JOB_STATES = ("pending", "running", "succeeded", "failed", "stopped", "early_stopped")
DONE = ("succeeded", "failed", "stopped", "early_stopped")


def sweeps_root(runs_dir: Path) -> Path:
    return Path(runs_dir) / ".sweeps"


def queue_root(runs_dir: Path) -> Path:
    return Path(runs_dir) / ".queue"


class Batch:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.jobs_dir = self.root / "jobs"
        self._lock_fd: int | None = None

    @property
    def name(self) -> str:
        return self.root.name

    def status_command(self) -> str:
        """The command that shows this batch: a queue's, or a sweep's."""
        if self.root.parent.name == ".queue":
            return f"expkit queue status --queue {self.name}"
        return f"expkit sweep status {self.name}"

    def exists(self) -> bool:
        return (self.root / "batch.json").exists()

    def meta(self) -> dict[str, Any]:
        return read_json(self.root / "batch.json", default={}) or {}

    def write_meta(self, meta: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.root / "batch.json", meta)

    def update_meta(self, **changes: Any) -> dict[str, Any]:
        meta = self.meta()
        meta.update(changes)
        self.write_meta(meta)
        return meta

    # jobs -----------------------------------------------------------------------------------------------------
    def job_path(self, job_id: str) -> Path:
        return self.jobs_dir / f"{job_id}.json"

    def job_ids(self) -> list[str]:
        if not self.jobs_dir.is_dir():
            return []
        return sorted(n[:-5] for n in os.listdir(self.jobs_dir) if n.endswith(".json") and not n.startswith("."))

    def load_job(self, job_id: str) -> dict[str, Any]:
        return read_json(self.job_path(job_id), default=None)

    def jobs(self) -> list[dict[str, Any]]:
        return [j for j in (self.load_job(i) for i in self.job_ids()) if j]

    def save_job(self, job: dict[str, Any]) -> None:
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        job["updated_at"] = now_iso()
        atomic_write_json(self.job_path(job["id"]), job)

    def new_job(self, job_id: str, argv: list[str], **fields: Any) -> dict[str, Any]:
        """A pending job with a stable identity: trial id, seed and W&B run id survive every retry and resume."""
        job = {"id": job_id, "state": "pending", "argv": list(argv), "attempts": [],
               "wandb_run_id": secrets.token_hex(4), "seed": int.from_bytes(secrets.token_bytes(4), "big") >> 1,
               "created_at": now_iso(), **fields}
        self.save_job(job)
        return job

    def add_job_exclusive(self, prefix: str, argv: list[str], **fields: Any) -> dict[str, Any]:
        """The next free id j0001, j0002 ... claimed with O_EXCL, so concurrent `queue add` calls never collide."""
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        n = len(self.job_ids()) + 1
        while True:
            job_id = f"{prefix}{n:04d}"
            try:
                fd = os.open(self.job_path(job_id), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                n += 1
                continue
            os.close(fd)
            return self.new_job(job_id, argv, **fields)

    # the one scheduler per batch ------------------------------------------------------------------------------
    def lock(self) -> None:
        """Take the scheduler lock or explain who holds it."""
        try:
            self._lock_fd = hold_lock(self.root / "scheduler.lock", self.root / "scheduler.json")
        except LockBusy as busy:
            raise ExpkitError(f"a scheduler is already working on {self.name}"
                              + (f" (pid {busy.pid})" if busy.pid else ""),
                              f"watch it with `{self.status_command()}`, or stop that process first")

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def scheduler_alive(self) -> bool:
        """True when some process holds the lock (a live scheduler)."""
        path = self.root / "scheduler.lock"
        if not path.exists():
            return False
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False


def counts(jobs: list[dict[str, Any]]) -> dict[str, int]:
    out = {s: 0 for s in JOB_STATES}
    for j in jobs:
        out[j["state"]] = out.get(j["state"], 0) + 1
    return out


def iter_batches(root: Path) -> Iterator[Batch]:
    if root.is_dir():
        for p in sorted(root.iterdir()):
            if (p / "batch.json").exists():
                yield Batch(p)
