"""Backups next to the script (`train.py.expkit-bak`, then `.expkit-bak.1`, ...; never overwritten) and revert."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

from expkit.errors import ExpkitError
from expkit.fsutil import atomic_write_bytes

SUFFIX = ".expkit-bak"


def backups(script: Path) -> list[Path]:
    """Existing backups of `script`, oldest first."""
    found = []
    pattern = re.compile(re.escape(script.name + SUFFIX) + r"(?:\.(\d+))?$")
    for p in script.parent.iterdir() if script.parent.exists() else ():
        mt = pattern.match(p.name)
        if mt:
            found.append((int(mt.group(1) or 0), p))
    return [p for _, p in sorted(found)]


def next_backup(script: Path) -> Path:
    existing = backups(script)
    if not existing:
        return script.with_name(script.name + SUFFIX)
    last = existing[-1].name.rsplit(".", 1)[-1]
    n = int(last) + 1 if last.isdigit() else 1
    return script.with_name(f"{script.name}{SUFFIX}.{n}")


def write_backup(script: Path, data: bytes) -> Path:
    """Write the backup exclusively (O_EXCL): an existing file is never overwritten, even in a race."""
    while True:
        path = next_backup(script)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        return path


def unified_diff(before: str, after: str, name: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        f"a/{name}", f"b/{name}"))


def revert(script: Path) -> dict:
    """Restore the newest backup byte for byte, then remove that backup (the script now holds its bytes)."""
    script = Path(script)
    found = backups(script)
    if not found:
        raise ExpkitError(f"no backup of {script.name} to restore (looked for {script.name}{SUFFIX}*)",
                          "only a script changed by `expkit wandb inject` can be reverted")
    newest = found[-1]
    data = newest.read_bytes()
    current = script.read_bytes() if script.exists() else None
    atomic_write_bytes(script, data)
    newest.unlink()
    return {"script": str(script), "restored_from": str(newest), "changed": current != data,
            "remaining_backups": [str(p) for p in found[:-1]]}
