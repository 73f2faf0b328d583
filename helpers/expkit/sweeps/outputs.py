"""Parallel jobs that write the same file: `--save model.pt` in every trial means each overwrites the others'."""

from __future__ import annotations

import re
import shlex

# flags and keys that name a file or folder a job writes
_OUTPUT = re.compile(r"^(?:--?|\+)?(save|save[-_]?(path|dir|to|model|file)|out|output|output[-_]?(dir|path|file)|"
                     r"out[-_]?(dir|path|file)|checkpoint[-_]?(dir|path)?|ckpt[-_]?(dir|path)?|model[-_]?(dir|path)|"
                     r"log[-_]?dir|results?[-_]?(dir|path|file)|o)$", re.I)


def output_paths(argv: list[str]) -> list[tuple[str, str]]:
    """(flag, path) for every output-looking flag of a command: `--save x`, `--save=x`, `output_dir=x`."""
    found = []
    for i, item in enumerate(argv):
        key, sep, value = item.partition("=")
        if sep and _OUTPUT.match(key) and value:
            found.append((key, value))
        elif _OUTPUT.match(item) and item.startswith("-") and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            found.append((item, argv[i + 1]))
    return found


def shared_outputs(commands: list[list[str]], ids: list[str] | None = None) -> list[str]:
    """One warning per output path that two or more of these commands write."""
    ids = ids or [f"#{i + 1}" for i in range(len(commands))]
    seen: dict[tuple[str, str], list[str]] = {}
    for jid, argv in zip(ids, commands):
        for flag, path in output_paths(argv):
            seen.setdefault((flag, path), []).append(jid)
    out = []
    for (flag, path), who in seen.items():
        if len(who) > 1:
            names = ", ".join(who[:4]) + (f" and {len(who) - 4} more" if len(who) > 4 else "")
            out.append(f"{len(who)} jobs write the same {flag} {shlex.quote(path)} ({names}): run side by side they "
                       "overwrite each other's file; put a swept value or the run dir ($EXPKIT_RUN_DIR) in the path")
    return out
