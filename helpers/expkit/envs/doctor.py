"""`expkit doctor`: one pre-flight table before launching. Each check: pass / warn / fail, and a fix for each
warn or fail. torch/CUDA and wandb are read inside the target env (envs.verify), never in this process."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from expkit.errors import ExpkitError

GIB = 1024 ** 3
DISK_FAIL_GIB, DISK_WARN_GIB = 1, 10


def check(name: str, status: str, detail: str, fix: str | None = None) -> dict[str, Any]:
    return {"check": name, "status": status, "detail": detail, "fix": fix}


def doctor(project: Path, env_name: str | None = None, runs_dir: Path | None = None) -> dict[str, Any]:
    project = Path(project).resolve()
    if not project.is_dir():
        raise ExpkitError(f"no such directory: {project}", "run doctor from the project folder")
    from expkit.runs.store import default_runs_dir

    runs_dir = Path(runs_dir).resolve() if runs_dir else default_runs_dir(project).resolve()
    git_check = _git(project, runs_dir)
    git = git_check.pop("facts", None)
    checks = [git_check, _gpus(), _disk(runs_dir)]
    env_check, facts = _env(project, env_name)
    checks.append(env_check)
    gpu_count = checks[1].get("count", 0)
    checks += [_torch(facts, gpu_count), _wandb(facts)]
    for c in checks:
        c.pop("count", None)
    worst = "fail" if any(c["status"] == "fail" for c in checks) else \
        "warn" if any(c["status"] == "warn" for c in checks) else "pass"
    return {"project": str(project), "status": worst, "git": git, "checks": checks}


def _git(project: Path, runs_dir: Path) -> dict[str, Any]:
    from expkit.runs.gitstate import capture

    info, _ = capture(project, exclude=[runs_dir])
    if not info.get("is_repo"):
        return check("git", "warn", info.get("reason", "not a git repository"),
                     "git init && git add -A && git commit -m 'initial': runs then record the exact code")
    if info.get("commit") is None:
        return check("git", "warn", "no commit yet", "commit the code so runs can be reproduced from git")
    where = f"{info.get('branch') or 'detached'} @ {info['commit'][:10]}"
    facts = {k: info.get(k) for k in ("branch", "commit", "dirty", "changed_files", "untracked_files")}
    if info.get("dirty"):
        c = check("git", "warn", f"{where}: {info['changed_files']} changed, {info['untracked_files']} untracked file(s)",
                  "commit (or stash) the changes: expkit saves a git.patch, but a commit is certain")
    else:
        c = check("git", "pass", f"{where}, clean")
    c["facts"] = facts  # branch, commit, dirty: for a confirmation table, without parsing `detail`
    return c


def _gpus() -> dict[str, Any]:
    from expkit.hardware.gpus import free_gpus, list_gpus

    info = list_gpus()
    if not info["devices"]:
        c = check("gpus", "warn", f"no GPU: {info['reason']}", "runs will use the CPU; use a GPU machine for real training")
        c["count"] = 0
        return c
    free = free_gpus(info)
    status = "pass" if free else "warn"
    c = check("gpus", status, f"{len(info['devices'])} GPU(s), {len(free)} free "
              f"({', '.join(str(d['index']) for d in free) or 'none'}), driver {info['driver']}",
              None if free else "all GPUs are busy: `expkit gpus` shows who uses them")
    c["count"] = len(info["devices"])
    return c


def _disk(runs_dir: Path) -> dict[str, Any]:
    probe = runs_dir
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free / GIB
    detail = f"{free:.1f} GiB free where runs are written ({runs_dir})"
    if free < DISK_FAIL_GIB:
        return check("disk", "fail", detail, "free disk space or pass --runs-dir on a bigger disk")
    if free < DISK_WARN_GIB:
        return check("disk", "warn", detail, "checkpoints may fill it: free space or use --runs-dir elsewhere")
    return check("disk", "pass", detail)


def _env(project: Path, env_name: str | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    from expkit.envs.verify import verify
    from expkit.errors import Failure

    try:
        facts = verify(project, env_name)
    except Failure as exc:
        return check("environment", "fail", exc.message, exc.hint), None
    except ExpkitError as exc:
        return check("environment", "warn" if env_name is None else "fail", exc.message, exc.hint), None
    env = facts["env"]
    return check("environment", "pass", f"{env['manager']} env '{env['name']}', python {facts['python']}"), facts


def _torch(facts: dict[str, Any] | None, gpu_count: int) -> dict[str, Any]:
    if facts is None:
        return check("torch/cuda", "warn", "not checked: no target environment",
                     "create or pass one (--env), then run doctor again")
    t = facts["torch"]
    if not t.get("installed") or t.get("import_error"):
        return check("torch/cuda", "fail", facts["cuda_reason"].split(":")[0], "expkit env install --with torch==<version>")
    build = f"CUDA {t['cuda_build']}" if t.get("cuda_build") else "CPU-only"
    if t.get("cuda_available"):
        return check("torch/cuda", "pass", f"torch {t['version']} ({build}), {t['device_count']} device(s) visible")
    status = "fail" if gpu_count else "warn"  # a GPU torch cannot use is a failure; no GPU at all is a warning
    return check("torch/cuda", status, f"CUDA unavailable: {facts['cuda_reason']}",
                 "see the reason: install a CUDA build of torch matching the driver" if gpu_count else
                 "fine for a CPU smoke test; use a GPU machine for real training")


def _wandb(facts: dict[str, Any] | None) -> dict[str, Any]:
    if facts is None:
        return check("wandb", "warn", "not checked: no target environment", None)
    w = facts["wandb"]
    if not w["installed"]:
        return check("wandb", "warn", "wandb is not installed in the target env", "expkit env install --with wandb")
    if w["mode"] in ("offline", "disabled", "dryrun"):
        return check("wandb", "pass", f"wandb {w['version']}, mode {w['mode']} (no login needed)")
    if w["logged_in"]:
        return check("wandb", "pass", f"wandb {w['version']}, logged in (key from {w['key_source']})")
    return check("wandb", "warn", f"wandb {w['version']}, not logged in",
                 "run `wandb login` in the env, or set WANDB_MODE=offline to log locally")
