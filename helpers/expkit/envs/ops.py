"""detect, create and install: the env commands' logic, with every command it runs written down."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable

from expkit.envs import depfiles, managers as mg, record
from expkit.errors import ExpkitError, Failure
from expkit.timeutil import now_iso, stamp


PIPFILE_ONLY = "only a Pipfile here: expkit does not install from Pipfiles"


def detect(project: Path) -> dict[str, Any]:
    """Managers present, the active env, conda envs, dependency files, and one recommended manager + plan."""
    project = _project(project)
    files = depfiles.find(project)
    present = {name: mg.get(name).available() for name in mg.MANAGERS}
    present["virtualenv"] = shutil.which("virtualenv") is not None
    present["pip"] = shutil.which("pip") is not None or shutil.which("pip3") is not None
    conda_envs: list[dict[str, str]] = []
    for tool in mg.CONDA_LIKE:
        if present[tool]:
            conda_envs = [{"name": mg.env_name(p), "path": p, "manager": tool} for p in mg.get(tool).list_envs()]
            break
    manager, why = recommend(files, present)
    recorded = record.load(project)
    target = recorded["envs"].get(recorded["default"]) if recorded.get("default") else None
    active = mg.active_env()
    found = environments(project, conda_envs, active, files)
    local = next((e for e in found if e["where"] == "project" and e["exists"]), None)
    named = next((e for e in found if e["kind"] in mg.CONDA_LIKE and e["name"] == project.name), None)
    create: str | None = None
    if target:
        env = mg.Env(target["name"], target["manager"], target.get("path"))
        why = f"this project already uses {env.manager} env '{env.name}' (created by expkit)"
    elif active and active["name"] != "base":  # never install a project into conda's base
        env = mg.Env(active["name"], active["manager"], active["path"])
        why = f"the active {env.manager} env '{env.name}' is where you work now"
    elif local:  # the project's own ./.venv or ./venv, even when no shell has activated it
        env = mg.Env(local["name"], local["kind"], local["path"])
        why = f"the project's own {local['name']} ({local['kind']}" + (
            ", torch installed" if local.get("torch") else "") + "), not active in this shell: use its interpreter"
    elif named:
        env = mg.Env(named["name"], named["kind"], named["path"])
        why = f"the {named['kind']} env named after the project, '{named['name']}'"
    else:
        env = mg.get(manager).env(".venv" if manager in ("uv", "venv") else project.name, project)
        create = f"expkit env create {env.name} --manager {env.manager}"
    steps = [s["shell"] for s in plan(project, env, files)]
    python = interpreter(env)
    for e in found:
        e["recommended"] = e["path"] == env.path or (e["kind"] in mg.CONDA_LIKE and e["name"] == env.name
                                                     and env.manager in mg.CONDA_LIKE)
    return {
        "project": str(project),
        "managers": present,
        "active_env": active,
        "environments": found,
        "conda_envs": conda_envs,
        "recorded_envs": recorded["envs"],
        "dependency_files": [f.to_json() for f in files],
        "recommendation": {"manager": env.manager, "env": env.name, "path": env.path, "python": python,
                           "why": why, "create": create, "install_plan": steps},
        "notes": [f"{PIPFILE_ONLY}: export it with `pipenv requirements > requirements.txt`"]
        if not steps and any(f.kind == "pipfile" for f in files) else [],
    }


def environments(project: Path, conda_envs: list[dict[str, str]], active: dict[str, Any] | None,
                 files: list[depfiles.DepFile]) -> list[dict[str, Any]]:
    """Every env this project could run in, active or not: ./.venv and ./venv, $VIRTUAL_ENV, conda envs, and the
    uv project env (`uv sync` makes ./.venv from uv.lock), each with its interpreter."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()

    def add(path: Path, where: str, kind: str | None = None, name: str | None = None) -> None:
        key = str(path.resolve()) if path.exists() else str(path)
        if key in seen:
            return
        seen.add(key)
        py = path / "bin" / "python"
        exists = py.exists() or (kind in mg.CONDA_LIKE and path.is_dir())
        entry = {"name": name or path.name, "kind": kind or ("uv" if mg.is_uv_env(path) else "venv"), "where": where,
                 "path": key, "python": str(py), "exists": exists,
                 "active": bool(active and Path(active["path"]).resolve() == path.resolve()) if path.exists() else False}
        version = _pyvenv_version(path)
        if version:
            entry["python_version"] = version
        if exists:
            entry["torch"] = any(path.glob("lib/python*/site-packages/torch/__init__.py"))
        out.append(entry)

    for folder in (".venv", "venv"):
        if (project / folder / "pyvenv.cfg").is_file() or (project / folder / "bin" / "python").exists():
            add(project / folder, "project")
    if os.environ.get("VIRTUAL_ENV"):
        add(Path(os.environ["VIRTUAL_ENV"]), "active")
    for c in conda_envs:
        add(Path(c["path"]), "conda", c["manager"], c["name"])
    if any(f.uv_lock for f in files) and str((project / ".venv").resolve()) not in seen:
        out.append({"name": ".venv", "kind": "uv", "where": "project", "path": str((project / ".venv").resolve()),
                    "python": str((project / ".venv" / "bin" / "python").resolve()), "exists": False,
                    "active": False, "note": "uv project (uv.lock): `uv sync` creates it"})
    return out


def _pyvenv_version(path: Path) -> str | None:
    try:
        for line in (path / "pyvenv.cfg").read_text(errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("version", "version_info"):
                return value.strip()
    except OSError:
        return None
    return None


def interpreter(env: mg.Env) -> str | None:
    """The python to start the project's code with: the env's own bin/python, so no shell has to activate it."""
    if env.path:
        return str(Path(env.path) / "bin" / "python")
    return None


def recommend(files: list[depfiles.DepFile], present: dict[str, bool]) -> tuple[str, str]:
    kinds = {f.kind for f in files}
    conda = next((m for m in ("mamba", "micromamba", "conda") if present.get(m)), None)
    if "conda" in kinds and conda:
        return conda, "environment.yml lists conda packages (often CUDA/cuDNN builds) that only a conda manager installs"
    if any(f.uv_lock for f in files) and present.get("uv"):
        return "uv", "uv.lock pins every version: `uv sync` reproduces the exact environment"
    note = " (environment.yml found but no conda: only its pip section can be installed)" if "conda" in kinds else ""
    if present.get("uv"):
        return "uv", "uv is installed: it creates the env and installs pip packages much faster than pip" + note
    return "venv", "no conda or uv here: a standard venv with pip needs nothing else" + note


def create(project: Path, name: str, manager: str | None, python: str | None, force: bool,
           echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Create NAME (idempotent: an existing env is reported, not recreated, unless force)."""
    project = _project(project)
    if manager is None:
        manager = recommend(depfiles.find(project), {m: mg.get(m).available() for m in mg.MANAGERS})[0]
    m = mg.get(manager)
    if not m.available():
        raise ExpkitError(f"{manager} is not installed here",
                          "pick another with --manager (see `expkit env detect` for what is present)"
                          + ("; `pip install uv` installs uv" if manager == "uv" else ""))
    env = m.env(name, project)
    if m.exists(env) and not force:
        record.remember(project, env)
        return {"env": env.to_json(), "created": False, "existed": True, "commands": [],
                "message": f"{manager} env '{name}' already exists at {env.path} (use --force to recreate it)"}
    commands: list[list[str]] = []
    if m.exists(env) and force:
        if manager in ("venv", "uv"):
            shutil.rmtree(env.path)
        else:
            commands += m.remove_argv(env)
    commands += m.create_argv(env, python)
    logdir = _logdir(project)
    log_path = logdir / f"env-create-{stamp()}.log"
    with open(log_path, "w") as log:
        for argv in commands:
            code, out = record.run_streaming(argv, project, log, echo=echo)
            if code != 0:
                raise Failure(f"creating {manager} env '{name}' failed (exit {code}): {_last_error(out)}",
                              f"see the full log: {log_path}")
    env = m.env(name, project)  # conda: now has a prefix
    record.remember(project, env, python=python, created_at=now_iso(), commands=commands)
    return {"env": env.to_json(), "created": True, "existed": False, "commands": [" ".join(c) for c in commands],
            "log": str(log_path), "message": f"created {manager} env '{name}' at {env.path}"}


def plan(project: Path, env: mg.Env, files: list[depfiles.DepFile] | None = None,
         with_pkgs: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The install steps for this project's files, each {argv, shell, why, env}, in order."""
    files = depfiles.find(project) if files is None else files
    m = mg.get(env.manager)
    pip = m.pip_argv(env)
    steps: list[dict[str, Any]] = []

    def step(argv: list[str], why: str, extra_env: dict[str, str] | None = None) -> None:
        steps.append({"argv": argv, "why": why, "env": extra_env or {},
                      "shell": " ".join([*(f"{k}={v}" for k, v in (extra_env or {}).items()), *argv])})

    by_kind: dict[str, list[depfiles.DepFile]] = {}
    for f in files:
        by_kind.setdefault(f.kind, []).append(f)
    pyproject = (by_kind.get("pyproject") or [None])[0]
    if "conda" in by_kind:
        f = by_kind["conda"][0]
        if isinstance(m, mg.CondaManager):
            step(m.env_update_argv(env, f.path), f"{f.path}: conda packages and its pip section")
        else:
            pip_deps = depfiles.conda_pip_deps(project / f.path)
            if pip_deps:
                step([*pip, *pip_deps], f"{f.path}: its pip section only ({env.manager} cannot install conda packages)")
    if pyproject and pyproject.uv_lock and env.manager == "uv":
        step(["uv", "sync", "--frozen"], "uv.lock pins exact versions", {"UV_PROJECT_ENVIRONMENT": env.path or ""})
    else:
        reqs = by_kind.get("requirements", [])
        main = next((r for r in reqs if r.path == "requirements.txt"), reqs[0] if reqs else None)
        if main:
            step([*pip, "-r", main.path], f"{main.path}: the project's pinned requirements")
        package = [f for f in files if f.installable or f.kind in ("setup.py", "setup.cfg")]
        if package:
            step([*pip, "-e", "."], f"{package[0].path}: the project itself, editable, so code changes need no reinstall")
    if with_pkgs:
        step([*pip, *with_pkgs], f"--with: {', '.join(with_pkgs)}")
    return steps


def install(project: Path, env_name: str | None, with_pkgs: tuple[str, ...],
            echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the plan into the target env, streaming output; the log and the commands are recorded."""
    project = _project(project)
    files = depfiles.find(project)  # a malformed file stops here: nothing installed
    env = record.resolve(project, env_name)
    m = mg.get(env.manager)
    if not m.exists(env):
        raise ExpkitError(f"the {env.manager} env '{env.name}' does not exist", f"create it: expkit env create {env.name}"
                          f" --manager {env.manager}")
    steps = plan(project, env, files, with_pkgs)
    if not steps and any(f.kind == "pipfile" for f in files):
        raise ExpkitError(PIPFILE_ONLY, "run `pipenv install` yourself, or export it: "
                                        "`pipenv requirements > requirements.txt`")
    if not steps:
        raise ExpkitError(f"no dependency files in {project} and nothing given with --with",
                          "add a requirements.txt or pyproject.toml, or name packages: --with torch==2.4.0")
    log_path = _logdir(project) / f"env-install-{stamp()}.log"
    ran: list[dict[str, Any]] = []
    result: dict[str, Any] = {"env": env.to_json(), "log": str(log_path), "steps": ran, "ok": True}
    with open(log_path, "w") as log:
        for s in steps:
            code, out = record.run_streaming(s["argv"], project, log, env=s["env"], echo=echo)
            ran.append({"command": s["shell"], "why": s["why"], "exit_code": code})
            if code != 0:
                result.update(ok=False, failed_requirement=failing_requirement(out), error=_last_error(out))
                break
    record.add_install(project, env, {"commands": [r["command"] for r in ran], "ok": result["ok"],
                                      "log": str(log_path)})
    if not result["ok"]:
        what = result["failed_requirement"]
        raise InstallFailed(result, f"install failed{' on ' + what if what else ''}: {result['error']}",
                            f"the full log is kept at {log_path}; fix that requirement and run `expkit env install` again")
    return result


class InstallFailed(Failure):
    def __init__(self, result: dict[str, Any], message: str, hint: str):
        super().__init__(message, hint)
        self.result = result


_FAIL_PATTERNS = [
    r"No matching distribution found for (\S+)",
    r"Could not find a version that satisfies the requirement (\S+)",
    r"Failed to build (?:installable wheels for some pyproject\.toml based projects \()?([^\s)]+)",
    r"Failed building wheel for (\S+)",
    r"Because (\S+) was not found in the package registry",
    r"Failed to (?:build|download|fetch) `([^`]+)`",
    r"Invalid requirement: '([^']+)'",
    r"PackagesNotFoundError:.*\n\s*-\s*(\S+)",
]


def failing_requirement(output: str) -> str | None:
    """Name the requirement pip/uv/conda failed on, from their own error lines."""
    for pattern in _FAIL_PATTERNS:
        hits = re.findall(pattern, output)
        if hits:
            return hits[-1].strip("'\"")
    m = re.findall(r"^(?:Processing|Collecting|Obtaining)\s+(\S+)", output, re.M)
    return m[-1] if m else None


def _last_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if re.match(r"^(ERROR|error|×|CondaError|\w+Error)", line):
            return line[:300]
    return lines[-1][:300] if lines else "no output"


def _project(project: Path) -> Path:
    project = Path(project)
    if not project.exists():
        raise ExpkitError(f"no such directory: {project}", "pass the project folder, or run from inside it")
    if not project.is_dir():
        raise ExpkitError(f"not a directory: {project}", "pass the project folder, not a file in it")
    return project.resolve()


def _logdir(project: Path) -> Path:
    record.save(project, record.load(project))  # makes .expkit/ with its .gitignore
    return project / ".expkit"

