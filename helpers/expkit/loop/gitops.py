"""The loop's git: its own branch, one commit per trial, a hard reset to the best commit after a discard.

Every discarded or crashed trial keeps a ref (refs/expkit-loop/<name>/tNNNN), so its code can be looked at later
and git's garbage collection never removes it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from expkit.errors import ExpkitError


def git(root: Path, *args: str, check: bool = True) -> str:
    env = dict(os.environ)
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=120, env=env)
    if check and proc.returncode != 0:
        raise ExpkitError(f"git {' '.join(args[:3])} failed: {(proc.stderr or proc.stdout).strip()[:400]}",
                          "fix the repository state (see `git status`) and run the command again")
    return proc.stdout.strip()


def repo_root(cwd: Path) -> Path:
    try:
        out = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=cwd, capture_output=True, text=True,
                             timeout=60)
    except FileNotFoundError:
        raise ExpkitError("git is not installed", "install git: the loop keeps and discards changes as commits") \
            from None
    if out.returncode != 0:
        raise ExpkitError(f"{cwd} is not inside a git repository",
                          "the loop commits each change and resets discarded ones: run `git init` and commit first")
    return Path(out.stdout.strip())


def head(root: Path) -> str | None:
    out = git(root, "rev-parse", "--verify", "-q", "HEAD", check=False)
    return out or None


def branch(root: Path) -> str | None:
    return git(root, "symbolic-ref", "--short", "-q", "HEAD", check=False) or None


def dirty_paths(root: Path) -> list[str]:
    """Changed and untracked paths (ignored files are not changes)."""
    out = subprocess.run(["git", "status", "--porcelain=v1", "-z", "--untracked-files=all"], cwd=root,
                         capture_output=True, timeout=60).stdout.decode("utf-8", "replace")
    paths, skip = [], False
    for entry in out.split("\0"):
        if skip or not entry:
            skip = False
            continue
        if entry[0] in "RC":
            skip = True
        paths.append(entry[3:])
    return paths


def is_ancestor(root: Path, older: str, newer: str) -> bool:
    return subprocess.run(["git", "merge-base", "--is-ancestor", older, newer], cwd=root,
                          capture_output=True).returncode == 0


def commit_all(root: Path, message: str) -> str:
    """Commit every change of the working tree (tracked and untracked, .gitignore honoured); returns the sha.

    A user with no git identity configured gets a stand-in one, so the commit does not fail."""
    git(root, "add", "-A", "--", ".")
    args = ["git", "commit", "-q", "--no-verify", "-m", message]
    proc = subprocess.run(args, cwd=root, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 and "tell me who you are" in (proc.stderr + proc.stdout).lower():
        git(root, "-c", "user.name=expkit loop", "-c", "user.email=expkit-loop@localhost", *args[1:])
    elif proc.returncode != 0:
        raise ExpkitError(f"git commit failed: {(proc.stderr or proc.stdout).strip()[:400]}",
                          "fix the repository state (see `git status`) and run the command again")
    return head(root)


def reset_to(root: Path, commit: str) -> None:
    git(root, "reset", "-q", "--hard", commit)


def keep_ref(root: Path, name: str, trial: int, commit: str) -> None:
    git(root, "update-ref", f"refs/expkit-loop/{name}/t{trial:04d}", commit, check=False)


def create_branch(root: Path, name: str) -> None:
    git(root, "checkout", "-q", "-b", name)


def branch_exists(root: Path, name: str) -> bool:
    return bool(git(root, "rev-parse", "--verify", "-q", f"refs/heads/{name}", check=False))


# protected paths ----------------------------------------------------------------------------------------------------
def path_hash(path: Path) -> str | None:
    """sha256 of a file; of every file's relative path and content for a folder; None when it does not exist."""
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if path.is_dir():
        h = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file() and ".git" not in p.parts):
            h.update(str(f.relative_to(path)).encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
        return h.hexdigest()
    return None


def protect_hashes(root: Path, cwd: Path, paths: list[str]) -> dict[str, str]:
    """{path relative to the repo root: hash}; each path must exist inside the repository."""
    out = {}
    for p in paths:
        full = (cwd / p).resolve()
        try:
            rel = full.relative_to(root.resolve())
        except ValueError:
            raise ExpkitError(f"protected path {p} is outside the repository {root}",
                              "protect files of the project the loop edits") from None
        digest = path_hash(full)
        if digest is None:
            raise ExpkitError(f"protected path {p} does not exist", "give existing files or folders to --protect")
        out[str(rel)] = digest
    return out


def changed_protected(root: Path, recorded: dict[str, str]) -> list[str]:
    return [rel for rel, digest in recorded.items() if path_hash(root / rel) != digest]
