"""Environment managers behind one interface: how to create an env, run its python, and pip-install into it.

venv and uv envs are folders (NAME is a path, like `python -m venv NAME`); conda, mamba and micromamba envs
are named (`-n NAME`). references/environments.md lists every command built here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from expkit.errors import ExpkitError

CONDA_LIKE = ("conda", "mamba", "micromamba")
MANAGERS = ("conda", "mamba", "micromamba", "uv", "venv")


@dataclass
class Env:
    name: str
    manager: str
    path: str | None  # the env's folder (prefix); None for a conda env not created yet

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Manager:
    name = ""

    def available(self) -> bool:
        return shutil.which(self.name) is not None

    def env(self, name: str, project: Path) -> Env:
        raise NotImplementedError

    def exists(self, env: Env) -> bool:
        raise NotImplementedError

    def create_argv(self, env: Env, python: str | None) -> list[list[str]]:
        raise NotImplementedError

    def remove_argv(self, env: Env) -> list[list[str]]:
        raise NotImplementedError

    def python_argv(self, env: Env) -> list[str]:
        """The prefix that runs `python` inside the env (append a script and its args)."""
        raise NotImplementedError

    def pip_argv(self, env: Env) -> list[str]:
        """The prefix that runs `pip install` into the env."""
        return [*self.python_argv(env), "-m", "pip", "install"]


class VenvManager(Manager):
    name = "venv"

    def available(self) -> bool:
        import importlib.util

        return importlib.util.find_spec("venv") is not None and importlib.util.find_spec("ensurepip") is not None

    def env(self, name: str, project: Path) -> Env:
        return Env(name, self.name, str((project / name).resolve()))

    def exists(self, env: Env) -> bool:
        return (Path(env.path) / "bin" / "python").exists() or (Path(env.path) / "Scripts" / "python.exe").exists()

    def create_argv(self, env: Env, python: str | None) -> list[list[str]]:
        return [[find_python(python), "-m", "venv", env.path]]

    def remove_argv(self, env: Env) -> list[list[str]]:
        return []  # a folder: removed with shutil.rmtree, no command

    def python_argv(self, env: Env) -> list[str]:
        return [str(Path(env.path) / "bin" / "python")]


class UvManager(VenvManager):
    """uv makes a standard virtualenv (without pip in it): installs go through `uv pip --python`."""

    name = "uv"

    def available(self) -> bool:
        return shutil.which("uv") is not None

    def create_argv(self, env: Env, python: str | None) -> list[list[str]]:
        return [["uv", "venv", *(["--python", python] if python else []), env.path]]

    def pip_argv(self, env: Env) -> list[str]:
        return ["uv", "pip", "install", "--python", self.python_argv(env)[0]]


class CondaManager(Manager):
    def __init__(self, name: str):
        self.name = name

    def env(self, name: str, project: Path) -> Env:
        for prefix in self.list_envs():
            if env_name(prefix) == name:
                return Env(name, self.name, prefix)
        return Env(name, self.name, None)

    def exists(self, env: Env) -> bool:
        return env.path is not None

    def list_envs(self) -> list[str]:
        """Prefixes from `<conda> env list --json` (micromamba: the same call)."""
        try:
            proc = subprocess.run([self.name, "env", "list", "--json"], capture_output=True, text=True, timeout=60)
            return list(json.loads(proc.stdout).get("envs", [])) if proc.returncode == 0 else []
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return []

    def create_argv(self, env: Env, python: str | None) -> list[list[str]]:
        argv = [self.name, "create", "-y", "-n", env.name, f"python={python or default_python()}"]
        if self.name == "micromamba":
            argv += ["-c", "conda-forge"]  # micromamba has no default channel
        return [argv]

    def remove_argv(self, env: Env) -> list[list[str]]:
        return [[self.name, "env", "remove", "-y", "-n", env.name]]

    def python_argv(self, env: Env) -> list[str]:
        run = [self.name, "run", "-n", env.name]
        if self.name != "micromamba":
            run.append("--no-capture-output")  # stream output instead of buffering it until exit
        return [*run, "python"]

    def env_update_argv(self, env: Env, file: str) -> list[str]:
        if self.name == "micromamba":
            return ["micromamba", "install", "-y", "-n", env.name, "-f", file]
        return [self.name, "env", "update", "-n", env.name, "-f", file]


def get(name: str) -> Manager:
    if name in CONDA_LIKE:
        return CondaManager(name)
    if name == "uv":
        return UvManager()
    if name == "venv":
        return VenvManager()
    raise ExpkitError(f"unknown environment manager: {name}", f"use one of: {', '.join(MANAGERS)}")


def env_name(prefix: str) -> str:
    """A conda prefix's name: envs/<name>, or `base` for the root prefix."""
    p = Path(prefix)
    return p.name if p.parent.name == "envs" else "base"


def default_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def find_python(version: str | None) -> str:
    """The interpreter `venv` is created from: pythonX.Y on PATH, or this one when the version matches."""
    if not version or version == default_python():
        return sys.executable
    exe = shutil.which(f"python{version}")
    if not exe:
        raise ExpkitError(f"no python{version} on PATH for a venv",
                          f"install Python {version}, use --manager uv (it fetches Python versions) or conda, "
                          f"or drop --python to use {default_python()}")
    return exe


def is_uv_env(path: Path) -> bool:
    cfg = path / "pyvenv.cfg"
    return cfg.is_file() and any(line.startswith("uv =") for line in cfg.read_text(errors="replace").splitlines())


def active_env() -> dict[str, Any] | None:
    if os.environ.get("VIRTUAL_ENV"):
        path = Path(os.environ["VIRTUAL_ENV"])
        return {"manager": "uv" if is_uv_env(path) else "venv", "name": path.name, "path": str(path)}
    if os.environ.get("CONDA_PREFIX"):
        return {"manager": "conda", "name": os.environ.get("CONDA_DEFAULT_ENV") or env_name(os.environ["CONDA_PREFIX"]),
                "path": os.environ["CONDA_PREFIX"]}
    return None
