"""Atomic file writes: a crash or a full disk never leaves a truncated file behind."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | os.PathLike, data: bytes, durable: bool = True, mode: int | None = None) -> None:
    """Write `data` to a temp file in the same folder, fsync it, then rename it over `path`.

    durable=False skips the fsync, for a record about to be replaced (readers still never see half a file).
    `mode` sets the file's permission bits (e.g. keep a script executable); default 0o644.
    """
    path = Path(path)
    # A unique name beside the target (same filesystem, so the rename is atomic); no tempfile import,
    # which keeps every command's start-up fast.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_text(path: str | os.PathLike, text: str, durable: bool = True) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), durable)


def atomic_write_json(path: str | os.PathLike, obj: Any, durable: bool = True) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n", durable)


def fsync_path(path: str | os.PathLike) -> None:
    """Make a file written with durable=False durable now (e.g. while something else runs)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """Read a JSON file; `default` when it does not exist."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return default


class LockBusy(Exception):
    """Another live process holds the lock; `pid` is the one it recorded, when known."""

    def __init__(self, pid: int | None):
        super().__init__(f"held by pid {pid}" if pid else "held by another process")
        self.pid = pid


def hold_lock(lock_path: Path, holder_path: Path) -> int:
    """Take an exclusive flock on `lock_path` for as long as this process keeps the returned fd open (the kernel
    frees it on any death, kill -9 included) and record our pid in `holder_path` for the next one's error message.
    Raises LockBusy when another process holds it."""
    import fcntl

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LockBusy((read_json(holder_path, default={}) or {}).get("pid")) from None
    os.set_inheritable(fd, False)
    from expkit.timeutil import now_iso

    atomic_write_json(holder_path, {"pid": os.getpid(), "started_at": now_iso()}, durable=False)
    return fd
