"""Which env a project uses: `.expkit/envs.json` remembers the envs expkit created and what it installed.

`install` and `verify` without --env act on the last env created for the project, so an agent never
transcribes a path. The folder holds its own .gitignore: it never makes the git tree dirty.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from expkit.envs import managers as mg
from expkit.errors import ExpkitError
from expkit.fsutil import atomic_write_bytes, atomic_write_json, read_json
from expkit.timeutil import now_iso

RECORD = Path(".expkit") / "envs.json"


def load(project: Path) -> dict[str, Any]:
    path = project / RECORD
    data = read_json(path) if path.is_file() else None
    return data if isinstance(data, dict) else {"default": None, "envs": {}}


def save(project: Path, data: dict[str, Any]) -> None:
    folder = project / RECORD.parent
    folder.mkdir(exist_ok=True)
    if not (folder / ".gitignore").exists():
        atomic_write_bytes(folder / ".gitignore", b"# written by expkit: local state, not source code\n*\n")
    atomic_write_json(project / RECORD, data)


def remember(project: Path, env: mg.Env, **fields: Any) -> None:
    data = load(project)
    entry = data["envs"].setdefault(env.name, {})
    entry.update(env.to_json())
    entry.update(fields)
    data["default"] = env.name
    save(project, data)


def add_install(project: Path, env: mg.Env, install: dict[str, Any]) -> None:
    data = load(project)
    entry = data["envs"].setdefault(env.name, env.to_json())
    entry.setdefault("installs", []).append({"at": now_iso(), **install})
    entry["installs"] = entry["installs"][-20:]
    save(project, data)


def resolve(project: Path, name: str | None) -> mg.Env:
    """The target env: --env NAME (recorded, a venv folder, or a conda env), else the project's default,
    else the active env, else ./.venv. An unknown name lists the existing ones."""
    data = load(project)
    if name is None:
        name = data.get("default")
        if name is None:
            active = mg.active_env()
            if active:
                return mg.Env(active["name"], active["manager"], active["path"])
            if (project / ".venv" / "bin" / "python").exists():
                return _folder_env(project, ".venv")
            raise ExpkitError("no target environment for this project",
                              "create one with `expkit env create .venv --manager venv` (or uv/conda), "
                              "or pass --env NAME")
    recorded = data["envs"].get(name)
    if recorded:
        return mg.Env(recorded["name"], recorded["manager"], recorded.get("path"))
    if (project / name / "bin" / "python").exists():  # a venv folder (an absolute NAME stays absolute)
        return _folder_env(project, name)
    known = list(data["envs"])
    for tool in mg.CONDA_LIKE:
        m = mg.get(tool)
        if m.available():
            prefixes = m.list_envs()
            for prefix in prefixes:
                if mg.env_name(prefix) == name:
                    return mg.Env(name, tool, prefix)
            known += [f"{mg.env_name(p)} ({tool})" for p in prefixes if mg.env_name(p) not in known]
            break
    listed = ", ".join(dict.fromkeys(known)) or "none"
    raise ExpkitError(f"no environment named '{name}'",
                      f"existing environments: {listed}; create it with `expkit env create {name}`")


def _folder_env(project: Path, name: str) -> mg.Env:
    path = (project / name).resolve()
    return mg.Env(name, "uv" if mg.is_uv_env(path) else "venv", str(path))


def run_streaming(argv: list[str], cwd: Path, log, env: dict[str, str] | None = None, echo=None) -> tuple[int, str]:
    """Run argv, copy each output line to `log` (and to `echo`), return (exit code, full output)."""
    log.write(f"$ {' '.join(argv)}\n")
    log.flush()
    lines: list[str] = []
    try:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL, bufsize=1,
                                errors="replace")
    except OSError as exc:
        msg = f"cannot run {argv[0]}: {exc.strerror}"
        log.write(msg + "\n")
        return 127, msg
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        log.write(line)
        log.flush()
        if echo:
            echo(line.rstrip("\n"))
    return proc.wait(), "".join(lines)
