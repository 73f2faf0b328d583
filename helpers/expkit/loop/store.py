"""A loop's state on disk, under the runs dir, every file written atomically (temp + rename).

    <runs dir>/.loops/<name>/
        loop.json       the setup: command, metric, goal, budget, seeds, protected paths and their hashes
        loop.jsonl      the ledger: one line per trial (trial 0 is the baseline), the single source of truth
        results.tsv     the same ledger in autoresearch's format (commit, metric, status, description)
        pending.json    the trial in progress: written before its commit, removed after its ledger line and reset
        trials/NNNN/    the trial's seeds as a queue batch (jobs/<seed>.json -> expkit run ids)
        loop.lock       held (flock) by the one `loop init/try/resume/report` working on this loop

The best commit, the counts and the noise floor are always derived from the ledger, so they cannot disagree.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from expkit.errors import ExpkitError
from expkit.fsutil import LockBusy, atomic_write_json, atomic_write_text, hold_lock, read_json

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def loops_root(runs_dir: Path) -> Path:
    return Path(runs_dir) / ".loops"


def check_name(name: str) -> str:
    if not NAME_RE.match(name or ""):
        raise ExpkitError(f"'{name}' is not a valid loop name",
                          "use letters, digits, '.', '_' or '-' (up to 64), e.g. `lr-schedule`")
    return name


class LoopStore:
    def __init__(self, runs_dir: Path, name: str):
        self.name = check_name(name)
        self.root = loops_root(runs_dir) / name
        self._lock_fd: int | None = None

    # files --------------------------------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / "loop.json"

    @property
    def ledger_path(self) -> Path:
        return self.root / "loop.jsonl"

    @property
    def tsv_path(self) -> Path:
        return self.root / "results.tsv"

    @property
    def pending_path(self) -> Path:
        return self.root / "pending.json"

    def exists(self) -> bool:
        return self.config_path.exists()

    def config(self) -> dict[str, Any]:
        cfg = read_json(self.config_path, default=None)
        if cfg is None:
            others = sorted(p.name for p in self.root.parent.iterdir() if (p / "loop.json").exists()) \
                if self.root.parent.is_dir() else []
            raise ExpkitError(f"no loop named '{self.name}' in {self.root.parent.parent}",
                              (f"loops here: {', '.join(others)}" if others else
                               "start one with `expkit loop init NAME --metric M --goal min -- CMD`")
                              + " (or pass --runs-dir)")
        return cfg

    def write_config(self, cfg: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.config_path, cfg)

    def ledger(self) -> list[dict[str, Any]]:
        if not self.ledger_path.exists():
            return []
        rows = []
        for line in self.ledger_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
        return rows

    def append(self, entry: dict[str, Any], metric: str) -> None:
        """Add a trial's line (replacing a line of the same trial: a resumed trial is counted once)."""
        rows = [r for r in self.ledger() if r["trial"] != entry["trial"]] + [entry]
        rows.sort(key=lambda r: r["trial"])
        atomic_write_text(self.ledger_path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
        atomic_write_text(self.tsv_path, results_tsv(rows, metric))

    def pending(self) -> dict[str, Any] | None:
        return read_json(self.pending_path, default=None)

    def write_pending(self, pending: dict[str, Any]) -> None:
        atomic_write_json(self.pending_path, pending)

    def clear_pending(self) -> None:
        try:
            self.pending_path.unlink()
        except FileNotFoundError:
            pass

    def trial_dir(self, trial: int) -> Path:
        return self.root / "trials" / f"{trial:04d}"

    # one process at a time ------------------------------------------------------------------------------------------
    def lock(self) -> None:
        try:
            self._lock_fd = hold_lock(self.root / "loop.lock", self.root / "lock.json")
        except LockBusy as busy:
            raise ExpkitError(f"another expkit process is working on loop {self.name}"
                              + (f" (pid {busy.pid})" if busy.pid else ""),
                              f"wait for it to finish; `expkit loop status {self.name}` shows the trial in progress")

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def results_tsv(rows: list[dict[str, Any]], metric: str) -> str:
    """autoresearch's results.tsv: commit (7 chars), the metric (0.000000 for a crash), status, description."""
    col = re.sub(r"\s+", "_", metric)
    lines = [f"commit\t{col}\tstatus\tdescription"]
    for r in rows:
        value = 0.0 if r["status"] == "crash" or r.get("mean") is None else r["mean"]
        desc = re.sub(r"[\t\r\n]+", " ", r.get("description") or "").strip()
        lines.append(f"{(r.get('commit') or '')[:7]}\t{value:.6f}\t{r['status']}\t{desc}")
    return "\n".join(lines) + "\n"
