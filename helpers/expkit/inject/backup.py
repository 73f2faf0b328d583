"""Backups of injected scripts, and a revert that never loses the user's work.

Where backups live: in a git project under `.git/expkit/backups/<path in repo>.expkit-bak[.N]` (git never sees
them, so they never show up as untracked files in a run's git.patch); elsewhere next to the script
(`train.py.expkit-bak`, then `.expkit-bak.1`, ...). A backup is never overwritten. Beside each backup a hidden
`.<backup>.written` holds the bytes inject wrote: revert compares the script with it to know what the user
changed since.

Revert: an untouched script gets its backup back byte for byte. A script the user edited since inject keeps
their edits and loses only expkit's changes (a three-way merge: the backup, what inject wrote, the current
file); when their edits touch expkit's lines, revert refuses, shows the diff and changes nothing.
"""

from __future__ import annotations

import ast
import difflib
import os
import re
from pathlib import Path

from expkit.errors import ExpkitError, Failure
from expkit.fsutil import atomic_write_bytes

SUFFIX = ".expkit-bak"
STORE = ("expkit", "backups")  # under the git dir
MARK = b"# expkit: wandb"  # on every line inject adds (inject.edits.MARK)


class RevertConflict(Failure):
    """The user's edits since inject overlap expkit's: nothing was changed (exit 1). `diff` shows their edits."""

    def __init__(self, message, hint, diff: str):
        super().__init__(message, hint)
        self.diff = diff


def _git_dir(start: Path) -> tuple[Path, Path] | None:
    """(work tree root, git dir) of the repository holding `start`, without running git."""
    for folder in (start, *start.parents):
        dot = folder / ".git"
        if dot.is_dir():
            return folder, dot
        if dot.is_file():  # a worktree or submodule: "gitdir: <path>"
            try:
                text = dot.read_text(encoding="utf-8", errors="replace").strip()
            except OSError:
                return None
            if text.startswith("gitdir:"):
                target = Path(text[len("gitdir:"):].strip())
                return folder, (target if target.is_absolute() else (folder / target).resolve())
            return None
    return None


def real_path(script: str | os.PathLike) -> Path:
    """The file a (possibly symlinked) script name points at: edits go there, the link stays a link."""
    return Path(os.path.realpath(script))


def _store_of(script: Path) -> Path:
    """The folder holding `script`'s backups: in the git dir for a file in a git work tree, else beside it."""
    found = _git_dir(script.parent)
    if found is None:
        return script.parent
    root, git_dir = found
    rel = script.relative_to(root)
    return git_dir.joinpath(*STORE, *rel.parent.parts)


def _numbered(folder: Path, name: str) -> list[tuple[int, Path]]:
    pattern = re.compile(re.escape(name + SUFFIX) + r"(?:\.(\d+))?$")
    found = []
    for p in folder.iterdir() if folder.is_dir() else ():
        mt = pattern.match(p.name)
        if mt:
            found.append((int(mt.group(1) or 0), p))
    return sorted(found)


def backups(script: Path) -> list[Path]:
    """Existing backups of `script`, oldest first (ones an older expkit left beside it in a git project first)."""
    script = real_path(script)
    store = _store_of(script)
    beside = [p for _, p in _numbered(script.parent, script.name)] if store != script.parent else []
    return beside + [p for _, p in _numbered(store, script.name)]


def written_path(backup: Path) -> Path:
    """Where the bytes inject wrote are kept, beside their backup."""
    return backup.with_name(f".{backup.name}.written")


def next_backup(script: Path) -> Path:
    script = real_path(script)
    store = _store_of(script)
    existing = _numbered(store, script.name)
    if not existing:
        return store / (script.name + SUFFIX)
    return store / f"{script.name}{SUFFIX}.{existing[-1][0] + 1}"


def write_backup(script: Path, data: bytes, written: bytes | None = None) -> Path:
    """Write the backup exclusively (O_EXCL): an existing file is never overwritten, even in a race.

    `written` (what inject is about to write) is kept beside it for revert.
    """
    while True:
        path = next_backup(script)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if written is not None:
            atomic_write_bytes(written_path(path), written)
        return path


def unified_diff(before: str, after: str, name: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        f"a/{name.lstrip('/')}", f"b/{name.lstrip('/')}"))


def _changes(base: list, other: list) -> list[tuple[int, int, list]]:
    """(start, end, replacement) for each block of `base` lines that `other` changes."""
    ops = difflib.SequenceMatcher(None, base, other, autojunk=False).get_opcodes()
    return [(i1, i2, other[j1:j2]) for tag, i1, i2, j1, j2 in ops if tag != "equal"]


def _overlap(a: int, b: int, c: int, d: int) -> bool:
    """Do changes of base[a:b] and base[c:d] touch the same lines? (an insertion has a == b)."""
    if a == b and c == d:
        return a == c
    if a == b:
        return c < a < d
    if c == d:
        return a < c < b
    return a < d and c < b


def _apply(base: list, start: int, end: int, changes: list) -> list:
    out, pos = [], start
    for i1, i2, new in changes:
        out += base[pos:i1] + new
        pos = i2
    return out + base[pos:end]


def merge3(base: list, ours: list, theirs: list, resolve=None) -> list | None:
    """Lines of `base` with both `ours`' and `theirs`' changes, or None when they change the same lines
    differently (diff3's rule, where a change next to another one is not a conflict).

    `resolve(base lines, mine, other)` may settle such a clash with the lines to use (None: a conflict)."""
    events = sorted([(*c, 0) for c in _changes(base, ours)] + [(*c, 1) for c in _changes(base, theirs)],
                    key=lambda e: (e[0], e[1]))
    out, pos, i = [], 0, 0
    while i < len(events):
        group = [events[i]]
        start, end = events[i][0], events[i][1]
        i += 1
        while i < len(events) and _overlap(start, end, events[i][0], events[i][1]):
            group.append(events[i])
            end = max(end, events[i][1])
            i += 1
        sides = {e[3] for e in group}
        mine = _apply(base, start, end, [e[:3] for e in group if e[3] == 0])
        other = _apply(base, start, end, [e[:3] for e in group if e[3] == 1])
        chosen = mine if 0 in sides else other
        if len(sides) == 2 and mine != other:
            chosen = resolve(base[start:end], mine, other) if resolve else None
            if chosen is None:
                return None
        out += base[pos:start] + chosen
        pos = end
    return out + base[pos:]


def _parses(data: bytes) -> bool:
    try:
        compile(data, "<revert>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def _mode(path: Path) -> int | None:
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return None


def revert(script: Path, force: bool = False) -> dict:
    """Undo inject on `script` without losing what the user changed since.

    - unchanged since inject: the newest backup comes back byte for byte;
    - edited since, away from expkit's lines: only expkit's changes are taken out, the user's edits stay;
    - edited on expkit's lines: RevertConflict (nothing changed) unless `force`, which restores the backup and
      keeps the current file as `<backup>.replaced` beside it.
    A symlinked script keeps its link (the file it points at is restored); file modes are kept.
    """
    given = Path(script)
    real = real_path(given)
    found = backups(real)
    if not found:
        raise ExpkitError(f"no backup of {given.name} to restore (looked for {given.name}{SUFFIX}*)",
                          "only a script changed by `expkit wandb inject` can be reverted")
    newest = found[-1]
    original = newest.read_bytes()
    written_file = written_path(newest)
    written = written_file.read_bytes() if written_file.exists() else None
    current = real.read_bytes() if real.exists() else None
    mode = _mode(real) or _mode(newest)
    out = {"script": str(given), "restored_from": str(newest), "changed": current != original,
           "kept_edits": False, "saved_current": None, "remaining_backups": [str(p) for p in found[:-1]]}

    result = original
    if current is not None and current != written and current != original and not force:
        result = _merge_or_refuse(given, original, written, current, newest)
        out["kept_edits"] = result != original
    elif force and current is not None and current not in (written, original):
        keep = newest.with_name(newest.name + ".replaced")
        atomic_write_bytes(keep, current)
        out["saved_current"] = str(keep)
    atomic_write_bytes(real, result, mode=mode)
    newest.unlink()
    if written_file.exists():
        written_file.unlink()
    out["changed"] = current != result
    return out


def _merge_or_refuse(given: Path, original: bytes, written: bytes | None, current: bytes, newest: Path) -> bytes:
    """The current script without expkit's changes, or RevertConflict."""
    name = given.name
    force_hint = (f"take out the lines marked `# expkit: wandb` by hand, or restore the backup anyway with "
                  f"`expkit wandb revert {given} --force` (the current file is kept beside the backup)")
    if written is None:  # a backup from an older expkit: no record of what inject wrote
        if b"wandb" not in current.lower():
            raise ExpkitError(f"{name} has no W&B code left: it was already reverted or edited since",
                              f"to restore {newest.name} anyway (the current file is kept beside the backup): "
                              f"expkit wandb revert {given} --force")
        kept = [ln for ln in current.splitlines(keepends=True) if MARK not in ln]
        if b"".join(kept) == original:
            return original
        diff = unified_diff(original.decode("utf-8", "replace"), current.decode("utf-8", "replace"), name)
        raise RevertConflict(f"{name} differs from its backup beyond expkit's marked lines: nothing changed",
                             force_hint, diff)
    def only_marked_lines_edited(base, mine, other):  # the user edited only lines expkit added: they go anyway
        unmarked = [ln for ln in mine if MARK not in ln]
        return other if unmarked == [ln for ln in base if MARK not in ln] else None

    merged = merge3(written.splitlines(keepends=True), current.splitlines(keepends=True),
                    original.splitlines(keepends=True), only_marked_lines_edited)
    if merged is not None and _parses(b"".join(merged)):
        return b"".join(merged)
    diff = unified_diff(written.decode("utf-8", "replace"), current.decode("utf-8", "replace"), name)
    raise RevertConflict(f"{name} was edited since inject, on or next to the lines expkit changed: nothing changed",
                         force_hint, diff)
