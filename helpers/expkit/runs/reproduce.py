"""Relaunch a run from a git worktree at its recorded commit with its git.patch applied."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from expkit.errors import ExpkitError
from expkit.redact import MASK
from expkit.runs.launch import LaunchRequest, LaunchResult, launch
from expkit.runs.store import Run
from expkit.timeutil import stamp


def plan(run: Run, runs_dir: Path) -> dict[str, Any]:
    """Everything reproduce would do, checked, without doing it."""
    m = run.manifest()
    git = m.get("git") or {}
    if not git.get("is_repo"):
        raise ExpkitError(f"run {run.id} was not launched inside a git repository: its code state was not recorded",
                          "commit the project to git and launch again; this run cannot be reproduced from code")
    commit = git.get("commit")
    if not commit:
        raise ExpkitError(f"run {run.id} was launched before the repository's first commit",
                          "commit the code and launch again")
    root = Path(git["root"])
    if not (root / ".git").exists():
        raise ExpkitError(f"the repository {root} recorded for run {run.id} no longer exists",
                          "clone it back to that path, then retry")
    has = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=root, capture_output=True)
    if has.returncode != 0:
        raise ExpkitError(f"commit {commit[:12]} of run {run.id} is not in {root}",
                          "fetch it (`git fetch --all`), or restore the branch it was on; it may have been rebased away")
    argv = list(m["command"]["argv"])
    interpreter = _outside_interpreter(argv, Path(m["command"].get("cwd") or root), root, commit)
    if interpreter:
        argv[0] = interpreter
    env, missing = {}, []
    for key, value in (m.get("env_overrides") or {}).items():
        if MASK in str(value):  # the value, or a password inside it (a URL), was not recorded
            if key in os.environ:
                env[key] = os.environ[key]
            else:
                missing.append(key)
        else:
            env[key] = value
    # secrets the original run inherited (WANDB_API_KEY, HF_TOKEN ... from the shell), recorded only as ***
    inherited, overrides = [], m.get("env_overrides") or {}
    names = set(m.get("env_secrets") or []) | {k for k, v in (m.get("env") or {}).items() if v == MASK}
    for key in sorted(names - set(overrides)):
        (inherited if key in os.environ else missing).append(key)
    worktree = runs_dir / ".worktrees" / f"{run.id}-repro-{stamp()}"
    cwd = worktree / git.get("cwd_relative", ".")
    config = None
    left_out = list(git.get("secret_files_skipped") or [])  # untracked files that looked secret: not in git.patch
    if m.get("config"):
        src = Path(m["config"]["source"])
        try:
            rel = src.relative_to(root)
            # an untracked config left out of git.patch is not in the worktree: use the recorded (masked) copy
            config = run.path / m["config"]["copy"] if rel.as_posix() in left_out else worktree / rel
        except ValueError:
            config = run.path / m["config"]["copy"]  # lived outside the repo: use the recorded copy
    return {
        "source_run": run.id, "commit": commit, "repo": str(root), "worktree": str(worktree), "cwd": str(cwd),
        "patch": str(run.path / "git.patch") if git.get("patch") else None,
        "patch_truncated": bool(git.get("patch_truncated")), "argv": argv,
        "seed": m["seed"].get("exported", m["seed"]["value"]),  # the same EXPKIT_SEED; a --seed on argv stays
        "gpus": (m.get("gpus") or {}).get("requested"), "config": str(config) if config else None, "env": env,
        "missing_secrets": missing, "inherited_secrets": inherited,
        "not_in_worktree": _ignored_paths(root, runs_dir),
        "redacted": [r for r in (m.get("redacted") or []) if not r.startswith(("env ", "--env "))]
                    + [f"env {k}" for k in missing] + [f"file {f} (left out of git.patch)" for f in left_out],
        "wandb_project": (m.get("wandb") or {}).get("project"),
        "name": m.get("name"), "group": m.get("group"),
        "backend": (m.get("backend") or {}).get("name", "local"),
        "backend_options": (m.get("backend") or {}).get("options") or {},
    }


def _ignored_paths(root: Path, runs_dir: Path) -> list[str]:
    """Ignored or untracked files of the repository (data/*.bin, downloaded datasets) that a checkout of the commit
    does not have: a script reading them fails in the reproduction. Environments, caches and runs left out."""
    out = subprocess.run(["git", "ls-files", "--others", "--directory", "--exclude-standard", "--ignored"],
                         cwd=root, capture_output=True, text=True)
    skip = ("__pycache__", ".pytest_cache", ".mypy_cache", ".ipynb_checkpoints", "wandb", ".egg-info")
    paths = []
    for rel in out.stdout.splitlines():
        path = root / rel
        if (path / "pyvenv.cfg").exists() or (path / "conda-meta").exists() or any(s in rel for s in skip):
            continue
        try:
            path.resolve().relative_to(runs_dir.resolve())
            continue
        except ValueError:
            paths.append(rel)
    return paths[:50]


def _outside_interpreter(argv: list[str], cwd: Path, root: Path, commit: str) -> str | None:
    """`.venv/bin/python train.py`: the project's env is not in the commit, so the worktree has no .venv; the
    reproduction runs the original run's interpreter by its absolute path (the symlink kept, so it stays that env)."""
    first = argv[0] if argv else ""
    if "/" not in first or os.path.isabs(first):
        return None
    original = Path(os.path.normpath(cwd / first))
    try:
        rel = original.relative_to(root).as_posix()
    except ValueError:
        return None
    tracked = subprocess.run(["git", "cat-file", "-e", f"{commit}:{rel}"], cwd=root, capture_output=True)
    return str(original) if tracked.returncode != 0 and os.access(original, os.X_OK) else None


def reproduce(run: Run, runs_dir: Path) -> tuple[LaunchResult, dict[str, Any]]:
    p = plan(run, runs_dir)
    if any(MASK in a for a in p["argv"]):
        flags = [r for r in p["redacted"] if not r.startswith(("env ", "config "))]
        raise ExpkitError(f"run {run.id}'s command had a secret argument that was not recorded ({', '.join(flags)})",
                          "pass the secret through an environment variable instead, and launch it again by hand")
    worktree = Path(p["worktree"])
    worktree.parent.mkdir(parents=True, exist_ok=True)
    add = subprocess.run(["git", "worktree", "add", "--detach", str(worktree), p["commit"]], cwd=p["repo"],
                         capture_output=True, text=True)
    if add.returncode != 0:
        raise ExpkitError(f"git worktree add failed: {add.stderr.strip()}", "check the repository, then retry")
    if p["patch"]:
        applied = subprocess.run(["git", "apply", "--whitespace=nowarn", p["patch"]], cwd=worktree,
                                 capture_output=True, text=True)
        if applied.returncode != 0:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=p["repo"], capture_output=True)
            raise ExpkitError(f"the run's git.patch does not apply on {p['commit'][:12]}: {applied.stderr.strip()}",
                              "the patch may have been cut at its size cap; inspect it in the run dir")
    req = LaunchRequest(argv=p["argv"], name=p["name"], gpus=p["gpus"], seed=p["seed"],
                        config=Path(p["config"]) if p["config"] else None, env=p["env"], runs_dir=runs_dir,
                        wandb_project=p["wandb_project"], cwd=Path(p["cwd"]), group=p["group"],
                        backend=p["backend"], backend_options=dict(p["backend_options"]),
                        extra={"reproduces": {"run_id": run.id, "worktree": p["worktree"], "commit": p["commit"]}})
    return launch(req), p
