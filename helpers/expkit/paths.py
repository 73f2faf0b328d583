"""Names and paths given by a user stay where they belong: a queue, run or sub-experiment name is one plain
folder name, an artifact path stays inside its folder, and a write never follows a planted symlink out."""

from __future__ import annotations

import os
import re
from pathlib import Path

from expkit.errors import ExpkitError

_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


def plain_name(value: str, what: str) -> str:
    """`value` as one folder name: letters, digits, . _ + -, no separators, not `.`/`..`, at most 128 characters."""
    if not isinstance(value, str) or not _PLAIN.match(value) or value in (".", ".."):
        raise ExpkitError(f"invalid {what} {value!r}: use letters, digits, '.', '_', '+' and '-' "
                          "(no '/', no leading '.' or '-', at most 128 characters)",
                          f"pick a plain name for the {what}, e.g. 'nightly' or 'lr-sweep_2'")
    return value


def confined(root: Path, rel: str | os.PathLike, what: str) -> Path:
    """root/rel, refused when `rel` is absolute, climbs out with `..`, or resolves (through symlinks) outside."""
    text = os.fspath(rel)
    parts = Path(text).parts
    if not text or Path(text).is_absolute() or ".." in parts or "\0" in text:
        raise ExpkitError(f"invalid {what} {text!r}: it must be a relative path inside {root}",
                          f"give a path like 'plots/loss.png' (no leading '/', no '..')")
    target = Path(root) / text
    real_root = Path(root).resolve()
    real = target.resolve()
    if real != real_root and real_root not in real.parents:
        raise ExpkitError(f"{what} {text!r} leads outside {root} (through a symlink to {real})",
                          "remove the symlink, or write to another path inside the folder")
    return target


def open_nofollow(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode: int = 0o644) -> int:
    """os.open that refuses a symlink as the last component (O_NOFOLLOW): an ELOOP becomes a clear error."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno == 40:  # ELOOP: the file itself is a symlink
            raise ExpkitError(f"refusing to write through the symlink {path}",
                              "remove the symlink, or write to another path") from None
        raise
