"""Which Python runs an experiment's handlers: the project's, never expkit's own by accident.

In this order (the first that applies wins):
1. `--python PATH` given to `expkit plan run` / `plan check`;
2. `python:` in research_plan.yaml, on the experiment, else at the top of the plan (relative to the project root);
3. the active environment: $VIRTUAL_ENV, then $CONDA_PREFIX;
4. a project-local virtualenv: .venv/ or venv/ in the project root;
5. expkit's own interpreter, with a warning (handlers then see only what expkit's environment has).
A PATH may name the interpreter or the environment's folder (its bin/python is used).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expkit.errors import ExpkitError
from expkit.plan.schema import Experiment, Plan

OWN = "expkit's own interpreter"


@dataclass
class Interpreter:
    path: str        # the python executable, absolute
    how: str         # why this one: "--python", "python: in research_plan.yaml (c1-...)", "$VIRTUAL_ENV" ...
    warning: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "chosen_by": self.how}


def _executable(value: str, base: Path, what: str, hint: str) -> str:
    """An interpreter or an environment folder -> its python, absolute; ExpkitError when it is neither."""
    path = Path(os.path.expanduser(str(value)))
    if not path.is_absolute():
        path = base / path
    if path.is_dir():
        for cand in ("bin/python", "bin/python3", "python.exe", "Scripts/python.exe"):
            if (path / cand).exists():
                path = path / cand
                break
        else:
            raise ExpkitError(f"{what} names the folder {path}, which holds no bin/python",
                              hint)
    if not path.exists():
        raise ExpkitError(f"{what} names {path}, which does not exist", hint)
    if not os.access(path, os.X_OK):
        raise ExpkitError(f"{what} names {path}, which is not executable", hint)
    return os.path.abspath(path)  # not resolved: a venv's python is a symlink whose name selects the venv


def _env_python(prefix: str) -> str | None:
    for cand in ("bin/python", "bin/python3"):
        path = Path(prefix) / cand
        if path.exists() and os.access(path, os.X_OK):
            return str(path)
    return None


def choose(plan: Plan, exp: Experiment | None = None, explicit: str | Interpreter | None = None,
           env: dict[str, str] | os._Environ | None = None, cwd: Path | None = None) -> Interpreter:
    """The interpreter for `exp`'s handlers (see the module docstring for the order); `explicit` is --python
    (or an Interpreter already chosen, returned as it is)."""
    if isinstance(explicit, Interpreter):
        return explicit
    env = os.environ if env is None else env
    if explicit:
        return Interpreter(_executable(explicit, Path(cwd or os.getcwd()), "--python",
                                       "pass the project's interpreter, e.g. --python .venv/bin/python"), "--python")
    for where, raw in (((exp.id if exp else None), exp.raw.get("python") if exp else None),
                       (None, plan.raw.get("python"))):
        if raw is None:
            continue
        if not isinstance(raw, str) or not raw.strip():
            raise ExpkitError(f"`python:` in {plan.path}{f' ({where})' if where else ''} must be a path, got {raw!r}",
                              "write the project's interpreter, e.g. `python: .venv/bin/python`")
        label = f"python: in {plan.path.name}" + (f" ({where})" if where else "")
        return Interpreter(_executable(raw, plan.root, f"`{label}`",
                                       f"fix `python:` in {plan.path} (a path relative to {plan.root}, or absolute)"),
                           label)
    for var in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        prefix = env.get(var)
        if prefix and _env_python(prefix):
            return Interpreter(_env_python(prefix), f"${var} ({prefix})")
    for name in (".venv", "venv"):
        found = _env_python(str(plan.root / name))
        if found:
            return Interpreter(found, f"the project's {name}/")
    return Interpreter(sys.executable, OWN,
                       f"no project environment found (no --python, no `python:` in {plan.path.name}, no active "
                       f"virtualenv or conda env, no .venv/ in {plan.root}): handlers run in {OWN} "
                       f"({sys.executable}), which has only expkit's packages; activate the project's environment "
                       "or pass --python")
