"""Find a project's candidate training commands and rank them.

Only files whose names or references mark them as entry points are parsed, so a large repository costs a
directory walk plus a handful of parses.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from expkit.entrypoints.analyze import analyze
from expkit.errors import ExpkitError

SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", "site-packages", "runs", "wandb", "mlruns",
             "outputs", "multirun", "lightning_logs", "build", "dist", ".expkit", ".tox", ".nox", ".mypy_cache",
             ".pytest_cache", "venv", "env", ".venv"}
NAME_SCORES = [
    (re.compile(r"^train\.py$"), 50), (re.compile(r"^run_training\.py$"), 45),
    (re.compile(r"^(train_\w+|\w+_train|finetune\w*|fine_tune\w*|pretrain\w*)\.py$"), 40),
    (re.compile(r"^main\.py$"), 35), (re.compile(r"^run\.py$"), 30),
]
MAX_PY = 40  # parsed at most; the walk itself is cheap
LAUNCH_RE = re.compile(r"\b(torchrun|accelerate\s+launch|deepspeed|python[\d.]*\s+-m\s+torch\.distributed\.\w+|"
                       r"python[\d.]*|srun|mpirun)\b")
PY_TARGET_RE = re.compile(r"(?:^|\s)(?:-m\s+([\w.]+)|([\w./-]+\.py))\b")


def find_entrypoints(project: Path) -> dict[str, Any]:
    project = Path(project)
    if not project.exists():
        raise ExpkitError(f"no such directory: {project}", "pass the project folder (the one with your training code)")
    if not project.is_dir():
        raise ExpkitError(f"not a directory: {project}", "pass the project folder, not a file in it")
    project = project.resolve()
    py_files, shells = _walk(project)
    cands: list[dict[str, Any]] = []
    commands: list[dict[str, Any]] = []  # shell scripts, Makefile/just/invoke tasks, project scripts
    for rel in shells:
        commands += _shell_script(project, rel)
    commands += _makefile(project) + _justfile(project) + _invoke(project) + _project_scripts(project)
    referenced = {c["runs"] for c in commands if c.get("runs")}
    chosen = [rel for rel in py_files if _name_score(rel) or rel in referenced]
    chosen = sorted(set(chosen), key=lambda r: (r.count("/"), r))[:MAX_PY]
    analyses = {rel: analyze(project / rel) for rel in chosen}
    for rel, info in analyses.items():
        score, why = _score_py(rel, info, rel in referenced)
        cands.append({"kind": "python", "path": rel, "command": _py_command(project, rel, info),
                      "score": score, "why": why, **info})
    for c in commands:
        target = analyses.get(c.get("runs") or "")
        score = (max(_score_py(c["runs"], target, True)[0], 0) + 5) if target else c.pop("base_score", 20)
        c.pop("base_score", None)
        c["score"] = score
        c["why"] = c.get("why", []) + ([f"runs {c['runs']}"] if target else [])
        if target:
            c.update(config=target["config"], framework=target["framework"], frameworks=target["frameworks"],
                     tracking=target["tracking"], distributed=sorted(set(target["distributed"]) | set(c["distributed"])))
        cands.append(c)
    cands.sort(key=lambda c: (-c["score"], c["path"], c.get("target") or ""))
    for i, c in enumerate(cands, 1):
        c["rank"] = i
    top = cands[0] if cands else None
    return {"project": str(project), "candidates": cands, "suggested": top["command"] if top else None,
            "inspected_files": chosen,
            "note": None if cands else "no training script found: expected train.py, main.py, run.py, a "
                                       "scripts/*.sh, a Makefile target or [project.scripts]"}


def _walk(project: Path) -> tuple[list[str], list[str]]:
    """Relative paths of .py and launcher .sh files; skips VCS, virtualenvs (pyvenv.cfg) and run outputs."""
    py, sh = [], []
    stack = [(str(project), "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            continue
        if prefix and any(e.name == "pyvenv.cfg" for e in entries):
            continue
        for e in entries:
            name = e.name
            if name.endswith(".py"):
                py.append(prefix + name)
            elif name.endswith(".sh"):
                if prefix in ("", "scripts/", "bin/", "tools/") or "train" in name:
                    sh.append(prefix + name)
            elif name not in SKIP_DIRS and name[0] != "." and e.is_dir(follow_symlinks=False):
                stack.append((e.path, f"{prefix}{name}/"))
    return sorted(py), sorted(sh)


def _name_score(rel: str) -> int:
    name = rel.rsplit("/", 1)[-1]
    return next((s for rx, s in NAME_SCORES if rx.match(name)), 0)


def _score_py(rel: str, info: dict[str, Any], referenced: bool) -> tuple[int, list[str]]:
    score, why = _name_score(rel), []
    if score:
        why.append(f"named {rel.rsplit('/', 1)[-1]}")
    if referenced:
        score += 10
        why.append("run by a script or task")
    if info.get("main_guard"):
        score += 20
        why.append("has if __name__ == '__main__'")
    if info.get("frameworks"):
        score += 15
        why.append(f"trains with {info['framework']}")
    if info["config"]["style"] not in (None, "constants"):
        score += 10
        why.append(f"takes {info['config']['style']} config")
    depth = rel.count("/")
    score -= 5 * depth
    if re.search(r"(^|/)(tests?|docs?|examples?|benchmarks?)/", rel):
        score -= 40
    return score, why


def _py_command(project: Path, rel: str, info: dict[str, Any]) -> str:
    """The launcher the file's own code implies, the file (or -m module inside a package), required flags."""
    dist = info["distributed"]
    if "accelerate launch" in dist:
        launcher = ["accelerate", "launch"]
    elif "torchrun" in dist or "torch.distributed" in dist and "mp.spawn" not in dist:
        launcher = ["torchrun", "--nproc_per_node=<N>"]
    else:
        launcher = ["python"]
    target = [rel]
    parent = (project / rel).parent
    if (parent / "__init__.py").exists() and parent != project:
        src = project / "src"
        base = src if (src in parent.parents or parent == src) else project
        target = ["-m", str((project / rel).relative_to(base).with_suffix("")).replace("/", ".")]
        if launcher[0] != "python":
            launcher.append("--module") if launcher[0] == "torchrun" else launcher.append("-m")
            target = target[1:]
    args = []
    if info["config"]["style"] == "lightning_cli":
        args.append("fit")
    for flag in info["config"]["flags"]:
        if flag.get("required") and flag.get("kind") != "subcommand":
            placeholder = f"<{flag['name'].lstrip('-').upper().replace('-', '_')}>"
            args += [placeholder] if not flag["name"].startswith("-") else [flag["name"], placeholder]
    import shlex

    return " ".join(p if p.startswith("<") or p.endswith(">") else shlex.quote(p) for p in launcher + target + args)


def _launch_facts(text: str) -> tuple[str | None, list[str]]:
    """The Python file a command line runs and the distributed launchers it uses."""
    hints = []
    for m in LAUNCH_RE.finditer(text):
        word = m.group(1).split()[0]
        if word in ("torchrun", "deepspeed", "srun", "mpirun"):
            hints.append(word)
        elif word == "accelerate":
            hints.append("accelerate launch")
        elif "torch.distributed" in m.group(1):
            hints.append("torch.distributed.launch")
    runs = None
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        if not LAUNCH_RE.search(line):
            continue
        for m in PY_TARGET_RE.finditer(line):
            if m.group(2):
                runs = m.group(2).removeprefix("./")
                break
            if m.group(1) and not m.group(1).startswith("torch.distributed"):
                runs = m.group(1).replace(".", "/") + ".py"
                break
        if runs:
            break
    return runs, sorted(set(hints))


def _existing(project: Path, rel: str | None) -> str | None:
    """A referenced file as it is on disk: as written, or under src/ (a `python -m pkg.mod` in a src layout)."""
    return next((c for c in (rel, f"src/{rel}") if (project / c).is_file()), None) if rel else None


def _shell_script(project: Path, rel: str) -> list[dict[str, Any]]:
    text = (project / rel).read_text(encoding="utf-8", errors="replace")
    runs, hints = _launch_facts(text)
    runs = _existing(project, runs)
    base = 30 if "train" in rel else 15
    return [{"kind": "shell", "path": rel, "command": f"bash {rel}", "runs": runs, "distributed": hints,
             "base_score": base, "why": [f"script {rel}"]}]


def _tasks(project: Path, file: str, recipes: dict[str, str], kind: str, prefix: str) -> list[dict[str, Any]]:
    out = []
    for name, body in recipes.items():
        runs, hints = _launch_facts(body)
        runs = _existing(project, runs)
        if not runs and not hints and "train" not in name:
            continue
        out.append({"kind": kind, "path": file, "target": name, "command": f"{prefix} {name}", "runs": runs,
                    "distributed": hints, "base_score": 40 if "train" in name else 15, "why": [f"{kind} target {name}"]})
    return out


def _makefile(project: Path) -> list[dict[str, Any]]:
    path = next((project / n for n in ("Makefile", "makefile", "GNUmakefile") if (project / n).is_file()), None)
    if not path:
        return []
    recipes: dict[str, str] = {}
    current = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", line)
        if m and not line.startswith("\t"):
            current = m.group(1) if not m.group(1).startswith(".") else None
            if current:
                recipes[current] = ""
        elif line.startswith("\t") and current:
            recipes[current] += line + "\n"
    return _tasks(project, path.name, recipes, "make", "make")


def _justfile(project: Path) -> list[dict[str, Any]]:
    path = next((project / n for n in ("justfile", "Justfile", ".justfile") if (project / n).is_file()), None)
    if not path:
        return []
    recipes: dict[str, str] = {}
    current = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = re.match(r"^@?([A-Za-z0-9_-]+)\b[^:]*:(?!=)", line)
        if m and not line[:1].isspace():
            current = m.group(1)
            recipes[current] = ""
        elif line[:1].isspace() and current:
            recipes[current] += line + "\n"
    return _tasks(project, path.name, recipes, "just", "just")


def _invoke(project: Path) -> list[dict[str, Any]]:
    path = project / "tasks.py"
    if not path.is_file():
        return []
    import ast

    try:
        tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except SyntaxError:
        return []
    recipes = {}
    for fn in tree.body:
        if isinstance(fn, ast.FunctionDef) and any("task" in ast.unparse(d) for d in fn.decorator_list):
            recipes[fn.name.replace("_", "-")] = " ".join(
                n.value for n in ast.walk(fn) if isinstance(n, ast.Constant) and isinstance(n.value, str))
    return _tasks(project, "tasks.py", recipes, "invoke", "invoke")


def _project_scripts(project: Path) -> list[dict[str, Any]]:
    path = project / "pyproject.toml"
    if not path.is_file():
        return []
    from expkit import tomlcompat as tomllib

    try:
        scripts = (tomllib.loads(path.read_text(encoding="utf-8")).get("project") or {}).get("scripts") or {}
    except tomllib.TOMLDecodeError:
        return []
    out = []
    for name, ref in scripts.items():
        module = str(ref).split(":", 1)[0].replace(".", "/") + ".py"
        runs = _existing(project, module)
        out.append({"kind": "project_script", "path": "pyproject.toml", "target": name, "command": name, "runs": runs,
                    "distributed": [], "base_score": 40 if "train" in name else 25,
                    "why": [f"[project.scripts] {name} = {ref}"]})
    return out
