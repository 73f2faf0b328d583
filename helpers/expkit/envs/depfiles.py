"""A project's dependency files, found in priority order and checked before anything is installed.

A malformed file is an ExpkitError naming the file and line, so nothing half-installs.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from expkit import tomlcompat as tomllib
from expkit.errors import ExpkitError

# kind, glob, in priority order (the order: what a researcher most often means)
PATTERNS = [
    ("requirements", "requirements*.txt"),
    ("pyproject", "pyproject.toml"),
    ("setup.py", "setup.py"),
    ("setup.cfg", "setup.cfg"),
    ("conda", "environment.yml"),
    ("conda", "environment.yaml"),
    ("pipfile", "Pipfile"),
]

_SPEC = r"(===|~=|==|!=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+\s*"  # one version clause, like >=1.26
_REQ = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._, -]*\])?\s*"  # name[extras]
                  rf"({_SPEC}(,\s*{_SPEC})*)?"  # version clauses
                  r"(\s*;.*)?$")  # environment marker
_REQ_AT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?\s*@\s*\S+")


@dataclass
class DepFile:
    kind: str  # requirements | pyproject | setup.py | setup.cfg | conda | pipfile
    path: str  # relative to the project
    extras: list[str] = field(default_factory=list)
    uv_lock: bool = False
    installable: bool = False  # pyproject with a [project] table or [build-system]
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def find(project: Path) -> list[DepFile]:
    """Every dependency file at the project's top level, in priority order, each validated."""
    if not project.is_dir():
        raise ExpkitError(f"no such directory: {project}", "pass the project folder (the one with train.py)")
    found: list[DepFile] = []
    for kind, pattern in PATTERNS:
        for path in sorted(project.glob(pattern)):
            if path.is_file():
                found.append(_check(kind, path, project))
    return found


def _check(kind: str, path: Path, project: Path) -> DepFile:
    rel = str(path.relative_to(project))
    dep = DepFile(kind, rel)
    text = path.read_text(encoding="utf-8", errors="replace")
    if kind == "requirements":
        check_requirements(path, text)
    elif kind in ("pyproject", "pipfile"):
        data = _toml(path, text)
        if kind == "pyproject":
            proj = data.get("project") or {}
            dep.extras = sorted((proj.get("optional-dependencies") or {}).keys())
            dep.installable = bool(proj) or "build-system" in data or "tool" in data and "poetry" in data["tool"]
            dep.uv_lock = (project / "uv.lock").is_file()
            if not dep.installable:
                dep.notes.append("no [project] or [build-system]: configuration only, not installable")
    elif kind == "conda":
        _yaml(path, text)
    return dep


def check_requirements(path: Path, text: str) -> None:
    """Each line must be a requirement, an option (-r, -e, --index-url ...), a path/URL, or blank/comment."""
    lines = text.splitlines()
    joined: list[tuple[int, str]] = []  # (first line number, logical line): a trailing \ continues a line
    for n, raw in enumerate(lines, 1):
        if joined and joined[-1][1].endswith("\\"):
            joined[-1] = (joined[-1][0], joined[-1][1][:-1] + " " + raw)
        else:
            joined.append((n, raw))
    for n, raw in joined:
        line = re.split(r"\s--?[a-z]", raw.split(" #", 1)[0])[0].strip()  # drop per-line options (--hash=...)
        if not line or line.startswith("#") or line.startswith("-"):
            continue
        if line.startswith((".", "/", "~")) or "://" in line or line.startswith("git+"):
            continue
        if _REQ.match(line) or _REQ_AT.match(line):
            continue
        raise ExpkitError(f"{path}:{n}: not a valid requirement: {raw.strip()!r}",
                          "write one requirement per line, like torch==2.4.0 or numpy>=1.26 (see pip's requirements "
                          "file format); nothing was installed")


def _toml(path: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        where = f"{path}:{m.group(1)}" if m else str(path)
        raise ExpkitError(f"{where}: malformed TOML: {exc}",
                          f"fix {path.name} at that line; nothing was installed") from None


def _yaml(path: Path, text: str) -> dict[str, Any]:
    from expkit.yamlfile import YamlError, load_yaml

    try:
        data = load_yaml(text, source=str(path))
    except YamlError as exc:
        where = f"{path}:{exc.line}" if exc.line else str(path)
        raise ExpkitError(f"{where}: malformed YAML: {exc.problem}",
                          f"fix {path.name} at that line; nothing was installed") from None
    if not isinstance(data, dict) or not isinstance(data.get("dependencies", []), list):
        raise ExpkitError(f"{path}:1: not a conda environment file (expected a mapping with a dependencies list)",
                          "see `conda env export --from-history` for the format; nothing was installed")
    return data


def conda_pip_deps(path: Path) -> list[str]:
    """The `- pip: [...]` entries of an environment.yml (for managers without conda)."""
    from expkit.yamlfile import load_yaml

    data = load_yaml(path) or {}
    out: list[str] = []
    for item in data.get("dependencies", []):
        if isinstance(item, dict) and isinstance(item.get("pip"), list):
            out.extend(str(x) for x in item["pip"])
    return out
