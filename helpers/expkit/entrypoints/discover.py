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
from expkit.entrypoints.readme import readme_commands
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
MAX_SCANNED = 400  # .py files whose text is searched for a main guard when their name says nothing
LAUNCH_RE = re.compile(r"\b(torchrun|accelerate\s+launch|deepspeed|python[\d.]*\s+-m\s+torch\.distributed\.\w+|"
                       r"python[\d.]*|uv\s+run|srun|mpirun)\b")
# words that say a program is not training, when they lead its name or no training word is in it
NOT_TRAINING = {"prepare", "preprocess", "download", "sample", "sampling", "generate", "gen", "eval", "evaluate",
                "evaluation", "test", "tests", "inference", "infer", "predict", "chat", "serve", "server", "web",
                "app", "demo", "export", "convert", "plot", "visualize", "visualise", "enjoy", "bench", "benchmark",
                "tok", "tokenize", "setup", "install", "lint", "clean", "format", "doc", "docs", "build"}
DOCKER_SH = re.compile(r"(^|/)(docker[-_]?)?entrypoint\.sh$|(^|/)docker/", re.I)
_MAIN_RE = re.compile(r"__name__\s*==\s*['\"]__main__['\"]|^\w+\s*=\s*\w+\.parse_args\(|^args\s*=", re.M)
_TRAINS_RE = re.compile(r"\.backward\(|\.fit\(|Trainer\(|\.train\(\)|optimizer|\.learn\(|train_one_epoch|"
                        r"\btrain\(", re.I)
PY_TARGET_RE = re.compile(r"(?:^|\s)(?:-m\s+([\w.]+)|([\w./-]+\.py))\b")


def find_entrypoints(project: Path) -> dict[str, Any]:
    project = Path(project)
    if not project.exists():
        raise ExpkitError(f"no such directory: {project}", "pass the project folder (the one with your training code)")
    if not project.is_dir():
        raise ExpkitError(f"not a directory: {project}", "pass the project folder, not a file in it")
    project = project.resolve()
    py_files, shells = _walk(project)
    docker = _docker_scripts(project, shells)
    cands: list[dict[str, Any]] = []
    commands: list[dict[str, Any]] = []  # shell scripts, Makefile/just/invoke tasks, project scripts
    for rel in shells:
        if rel not in docker:
            commands += _shell_script(project, rel)
    commands += _makefile(project) + _justfile(project) + _invoke(project) + _project_scripts(project)
    names = {kind: {c["target"] for c in commands if c["kind"] == kind and c.get("target")}
             for kind in ("make", "just", "invoke", "project_script")}
    names["make"] |= _make_targets(project)
    readme, documented = readme_commands(project, names)
    by_program: dict[tuple, dict] = {}  # the first README command for each program it runs
    for d in documented:
        if d.get("runs") not in docker:
            by_program.setdefault((d["kind"], d.get("runs") or d.get("target")), d)
    documented = list(by_program.values())
    referenced = {c["runs"] for c in commands if c.get("runs")} | {d["runs"] for d in documented if d.get("runs")}
    chosen = [rel for rel in py_files if _name_score(rel) or rel in referenced]
    chosen += _scripts_by_content(project, [r for r in py_files if r not in set(chosen)], MAX_PY - len(chosen))
    chosen = sorted(set(chosen), key=lambda r: (r.count("/"), r))[:MAX_PY]
    analyses = {rel: analyze(project / rel) for rel in chosen}
    overrides = _config_folders(project, py_files)
    inert = sorted(rel for rel, info in analyses.items() if info.get("config_only") and rel not in overrides)
    for rel, info in analyses.items():
        if info.get("config_only"):
            continue  # a config-override file (values a configurator execs), never a script of its own
        score, why = _score_py(rel, info, rel in referenced)
        command = _py_command(project, rel, info)
        if info.get("execs"):
            config = _pick_config(rel, overrides)
            if config:
                command += f" {config}"
                why.append(f"reads config overrides ({', '.join(info['execs'])}): e.g. {config}")
        cands.append({"kind": "python", "path": rel, "command": command, "score": score, "why": why, **info})
    for d in documented:
        cands.append(_documented(d, analyses, commands, readme))
    # a program the README shows how to run is offered once, as the README runs it
    cands = [c for c in cands if c["kind"] == "readme" or ("python", c["path"]) not in by_program]
    commands = [c for c in commands if (c["kind"], c.get("target") or c["path"]) not in by_program]
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
            "inspected_files": chosen, "readme": readme, "config_overrides": overrides,
            "excluded": [{"path": p, "why": "docker entrypoint: runs inside a container, not a training command"}
                         for p in sorted(docker)] +
                        [{"path": p, "why": "config override file: pass it to the script that reads it"}
                         for p in overrides] +
                        [{"path": p, "why": "only assignments: nothing happens when it runs"} for p in inert],
            "note": None if cands else "no training script found: expected train.py, main.py, run.py, a "
                                       "scripts/*.sh, a Makefile target or [project.scripts]"}


def _documented(d: dict[str, Any], analyses: dict[str, dict], commands: list[dict], readme: str) -> dict[str, Any]:
    """A README command as a candidate: the author's own words rank above anything inferred, training first."""
    via = d["kind"]
    runs = d.get("runs")
    if via in ("make", "just", "invoke", "project_script", "shell"):
        same = next((c for c in commands if c["kind"] == via and
                     (c.get("target") == d.get("target") if d.get("target") else c["path"] == runs)), None)
        runs = (same or {}).get("runs")  # the Python file the script or task runs, for its analysis
        base = (same or {}).get("base_score", 30)
        hints = (same or {}).get("distributed", [])
    else:
        base, hints = 0, []
    info = analyses.get(runs or "")
    score = max(base, _score_py(runs, info, True)[0] if info else 20) + 30
    name = " ".join(x for x in (d.get("runs"), d.get("target")) if x)
    why = [f"{readme} gives this command"] + (
        [f"{readme} names {d['renamed_from']}, which is not here: {d['runs']} is the closest script"]
        if d.get("renamed_from") else [])
    if _not_training(d.get("runs") or d.get("target") or ""):
        score -= 60
        why.append("its name says it is not training")
    elif re.search(r"train|finetune|fine_tune", name, re.I):
        score += 10
    score += max(0, 10 - d["order"])  # the README's first training command is its main one
    out: dict[str, Any] = {"kind": "readme", "via": via, "path": readme, "command": d["command"], "runs": runs,
                           "score": score, "why": why, "distributed": sorted(set(d["launchers"]) | set(hints))}
    if d.get("target"):
        out["target"] = d["target"]
    if info:
        out.update(config=info["config"], framework=info["framework"], frameworks=info["frameworks"],
                   tracking=info["tracking"], distributed=sorted(set(out["distributed"]) | set(info["distributed"])))
    return out


def _docker_scripts(project: Path, shells: list[str]) -> set[str]:
    """Shell scripts that belong to a container (named entrypoint.sh, under docker/, a Dockerfile's ENTRYPOINT, or
    ending in `exec "$@"`): they run whatever command the container is given, they do not train."""
    found = {rel for rel in shells if DOCKER_SH.search(rel)}
    for name in ("Dockerfile", "docker/Dockerfile", "Dockerfile.gpu", "Dockerfile.cpu"):
        try:
            text = (project / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for m in re.finditer(r"^\s*(?:ENTRYPOINT|CMD)\s+(.*)$", text, re.M):
            for rel in shells:
                if rel.rsplit("/", 1)[-1] in m.group(1):
                    found.add(rel)
    for rel in shells:
        try:
            text = (project / rel).read_text(encoding="utf-8", errors="replace")[:20000]
        except OSError:
            continue
        if re.search(r'^\s*exec\s+"\$@"', text, re.M):
            found.add(rel)
    return found


def _make_targets(project: Path) -> set[str]:
    path = next((project / n for n in ("Makefile", "makefile", "GNUmakefile") if (project / n).is_file()), None)
    if not path:
        return set()
    text = path.read_text(encoding="utf-8", errors="replace")
    return {m.group(1) for m in re.finditer(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.M)}


def _scripts_by_content(project: Path, rels: list[str], room: int) -> list[str]:
    """Scripts whose names say nothing (cleanrl/ppo.py, projects/adder/adder.py, main_dino.py): a main guard or a
    top-level parse_args, and a training call. Text search only, shallow files first, a bounded number."""
    if room <= 0:
        return []
    found = []
    rels = sorted((r for r in rels if r.count("/") <= 3 and not re.search(r"(^|/)(tests?|docs?)/", r)
                   and not r.rsplit("/", 1)[-1].startswith(("test_", "setup.", "conftest", "__"))),
                  key=lambda r: (r.count("/"), r))
    for rel in rels[:MAX_SCANNED]:
        try:
            with open(project / rel, "rb") as fh:
                text = fh.read(200_000).decode("utf-8", "replace")
        except OSError:
            continue
        if _MAIN_RE.search(text) and _TRAINS_RE.search(text):
            found.append(rel)
            if len(found) >= room:
                break
    return found


def _config_folders(project: Path, py_files: list[str]) -> list[str]:
    """`config/*.py` files made only of assignments: the values a configurator execs (nanoGPT style)."""
    from expkit.entrypoints.analyze import config_only

    out = []
    for rel in py_files:
        parts = rel.split("/")
        if len(parts) >= 2 and parts[-2] in ("config", "configs") and config_only(project / rel):
            out.append(rel)
    return out


def _pick_config(script: str, overrides: list[str]) -> str | None:
    """The override file to show with a script that execs its argv: one named after the script, else the first."""
    if not overrides:
        return None
    stem = script.rsplit("/", 1)[-1].removesuffix(".py")
    return next((o for o in overrides if o.rsplit("/", 1)[-1].startswith(stem)), overrides[0])


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
    if _not_training(rel):
        score -= 20
    if not info.get("main_guard") and not info.get("toplevel_code", True):
        score -= 30
        why.append("a library module: running it does nothing")
    return score, why


def _not_training(name: str) -> bool:
    """`prepare.py`, `eval_knn.py`, `scripts/image_sample.py`, `make install-training`: a word of the name says what
    the program does, and it is not training."""
    base = name.rsplit("/", 1)[-1].removesuffix(".py").removesuffix(".sh")
    if "/" not in name and base.count(".") and not name.endswith((".py", ".sh")):
        base = base.rsplit(".", 1)[-1]  # a module (scripts.tok_train) or a namespaced task (data.download)
    words = [w.lower() for w in re.split(r"[_.-]", base) if w]
    if not words:
        return False
    if words[0] in NOT_TRAINING:
        return True
    return any(w in NOT_TRAINING for w in words) and not any(re.match(r"train|finetune|fit", w) for w in words)


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
        line = re.sub(r"\buv\s+run\s+(?!python)", "python ", line)
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
    """invoke tasks: a tasks.py, or a tasks/ package, whose Collections may put tasks in namespaces
    (`invoke train.train`)."""
    import ast

    root = next((p for p in (project / "tasks.py", project / "tasks" / "__init__.py") if p.is_file()), None)
    if root is None:
        return []
    tree = _parse(root)
    if tree is None:
        return []
    rel_root = str(root.relative_to(project))
    recipes = {name: body for name, body in _task_bodies(tree).items()}
    out = _tasks(project, rel_root, recipes, "invoke", "invoke")
    for ns, file in _namespaces(project, root, tree).items():
        sub = _parse(file)
        if sub is None:
            continue
        bodies = {f"{ns}.{name}": body for name, body in _task_bodies(sub).items()}
        out += _tasks(project, str(file.relative_to(project)), bodies, "invoke", "invoke")
    return out


def _parse(path: Path):
    import ast

    try:
        return ast.parse(path.read_text(encoding="utf-8", errors="replace"))
    except (SyntaxError, ValueError, OSError):
        return None


def _task_bodies(tree) -> dict[str, str]:
    """@task functions -> the text their commands are made of; f-strings filled from module string constants."""
    import ast

    consts = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
              and isinstance(n.value.value, str) for t in n.targets if isinstance(t, ast.Name)}

    def text(node) -> str:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            return "".join(v.value if isinstance(v, ast.Constant) else
                           consts.get(getattr(v.value, "id", ""), "<?>") for v in node.values)
        return ""

    out = {}
    for fn in tree.body:
        if isinstance(fn, ast.FunctionDef) and any("task" in ast.unparse(d) for d in fn.decorator_list):
            parts = [text(n) for n in ast.walk(fn) if isinstance(n, (ast.Constant, ast.JoinedStr))]
            out[fn.name.replace("_", "-")] = "\n".join(p for p in parts if p)
    return out


def _namespaces(project: Path, root: Path, tree) -> dict[str, Path]:
    """namespace -> task module file, from `add_collection(Collection.from_module(x), name="train")`,
    `Collection(a, b)` and how each module variable was loaded (an import, or a loader given "train.py")."""
    import ast

    folder = project / "tasks"
    files: dict[str, Path] = {}  # variable -> file
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module in ("tasks", None) or node.level):
            for a in node.names:
                f = (root.parent if root.name == "__init__.py" else folder) / f"{a.name}.py"
                if f.is_file():
                    files[a.asname or a.name] = f
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            paths = [c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant) and isinstance(c.value, str)
                     and c.value.endswith(".py")]
            if paths and (folder / paths[-1].rsplit("/", 1)[-1]).is_file():
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        files[t.id] = folder / paths[-1].rsplit("/", 1)[-1]
    spaces: dict[str, Path] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        fn = ast.unparse(node.func)
        if fn.endswith("add_collection") and node.args:
            var = next((n.id for n in ast.walk(node.args[0]) if isinstance(n, ast.Name) and n.id in files), None)
            name = next((k.value.value for k in node.keywords if k.arg == "name" and isinstance(k.value, ast.Constant)),
                        None) or (node.args[1].value if len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
                                  else None)
            if var:
                spaces[name or files[var].stem] = files[var]
        elif fn in ("Collection", "invoke.Collection"):
            for a in node.args:
                if isinstance(a, ast.Name) and a.id in files:
                    spaces.setdefault(files[a.id].stem, files[a.id])
    return spaces


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
