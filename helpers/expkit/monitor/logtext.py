"""Turning raw log bytes into clean text lines: invalid UTF-8, ANSI colours, tqdm's `\\r` redraws, huge lines."""

from __future__ import annotations

import os
import re

MAX_LINE = 4096  # characters kept of one line: evidence is for reading, not for storing a 10 MB line
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: str | bytes, keep_last_segment: bool = True) -> str:
    """One display line: decoded, colour codes and control bytes removed, the last `\\r` redraw kept."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = text.rstrip("\r\n")
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    if keep_last_segment and "\r" in text:
        parts = [p for p in text.split("\r") if p.strip()]
        text = parts[-1] if parts else ""
    text = _CONTROL.sub("", text)
    return text[:MAX_LINE] + (" …" if len(text) > MAX_LINE else "")


def segments(text: str | bytes) -> list[str]:
    """Every `\\r`-separated redraw of one line (tqdm writes many bars on one line), cleaned."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    return [_CONTROL.sub("", p)[:MAX_LINE] for p in text.rstrip("\r\n").split("\r") if p.strip()]


def read_tail(path: str | os.PathLike, nbytes: int) -> tuple[bytes, int]:
    """The last `nbytes` of a file, starting at a line boundary when one exists; (data, start offset)."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        start = max(0, size - nbytes)
        fh.seek(start)
        data = fh.read(size - start)
    if start > 0:
        cut = data.find(b"\n")
        if 0 <= cut < len(data) - 1:
            data, start = data[cut + 1:], start + cut + 1
    return data, start


def read_range(path: str | os.PathLike, start: int, nbytes: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(start)
        return fh.read(nbytes)
