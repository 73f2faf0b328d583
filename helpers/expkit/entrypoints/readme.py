"""Training commands as a project's README gives them: shell lines from its code blocks, read statically.

A README is where authors write how to train ("python train.py config/x.py", "bash runs/speedrun.sh",
"invoke train.train"). Only lines whose program exists in the project are kept, with the folder a preceding
`cd` moved into, so "cd implementations/acgan && python3 acgan.py" points at the right file.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
from pathlib import Path
from typing import Any

README_NAMES = ("README.md", "readme.md", "Readme.md", "README.rst", "README.txt", "README", "README.markdown")
MAX_README = 512 << 10
_FENCE = re.compile(r"^\s*(```+|~~~+)\s*([\w+-]*)")
_SHELL_LANGS = {"", "sh", "bash", "shell", "console", "shell-session", "zsh", "bat", "cmd", "powershell", "text",
                "none", "sh-session", "commandline", "terminal"}
_RUNNERS = (("uv", "run"), ("poetry", "run"), ("pipenv", "run"), ("pdm", "run"), ("hatch", "run"), ("rye", "run"),
            ("pixi", "run"))
_LAUNCHERS = {"torchrun", "deepspeed", "mpiexec", "mpirun", "srun", "horovodrun"}
_PYTHON = re.compile(r"^python(\d(\.\d+)?)?$")
_ENV_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def find_readme(project: Path) -> Path | None:
    return next((project / n for n in README_NAMES if (project / n).is_file()), None)


def shell_lines(text: str) -> list[str]:
    """Command lines of a README's shell code blocks, continuation lines joined, prompts and comments dropped."""
    lines: list[str] = []
    in_block, keep, fence = False, False, ""
    pending = ""
    for raw in text.splitlines():
        m = _FENCE.match(raw)
        if m and (not in_block or m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence)):
            if in_block:
                in_block = False
                if pending:
                    lines.append(pending)
                    pending = ""
                lines.append("")  # a block boundary: a `cd` does not carry over
            else:
                in_block, fence = True, m.group(1)
                keep = m.group(2).lower() in _SHELL_LANGS
            continue
        if not in_block or not keep:
            continue
        line = raw.strip()
        if line.startswith(("$ ", "> ", "% ")) and not pending:
            line = line[2:].strip()
        if pending:
            line = pending + " " + line
            pending = ""
        if line.endswith("\\"):
            pending = line[:-1].strip()
            continue
        if line and not line.startswith("#"):
            lines.append(line)
    if pending:
        lines.append(pending)
    return lines


def split_commands(line: str) -> list[list[str]]:
    """`a && b; c | d` -> [[a...], [b...], [c...]] (a pipe's right side is output handling, not a command)."""
    try:
        lex = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lex.whitespace_split = True
        lex.commenters = "#"
        tokens = list(lex)
    except ValueError:
        return []
    out, cur, skip = [], [], False
    for t in tokens:
        if t in ("&&", ";", "||", "&"):
            if cur and not skip:
                out.append(cur)
            cur, skip = [], False
        elif t in ("|", "|&"):
            if cur and not skip:
                out.append(cur)
            cur, skip = [], True
        else:
            cur.append(t)
    if cur and not skip:
        out.append(cur)
    return out


def strip_launchers(words: list[str]) -> tuple[list[str], list[str]]:
    """Drop env assignments, `uv run`-style runners and launchers: (program words, launchers seen)."""
    seen: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if _ENV_ASSIGN.match(w) or w in ("env", "sudo", "time", "nohup", "exec"):
            i += 1
        elif any(tuple(words[i:i + 2]) == r for r in _RUNNERS):
            seen.append(" ".join(words[i:i + 2]))
            i += 2
            while i < len(words) and words[i].startswith("-") and words[i] != "-m":  # uv run --with x ...
                i += 2 if "=" not in words[i] and words[i] in ("--with", "--python", "--extra", "--group", "-p") else 1
        elif w == "conda" and words[i + 1:i + 2] == ["run"]:
            i += 2
            while i < len(words) and words[i].startswith("-"):
                i += 2 if words[i] in ("-n", "--name", "-p", "--prefix") else 1
        elif w in _LAUNCHERS or (w == "accelerate" and words[i + 1:i + 2] == ["launch"]):
            seen.append("accelerate launch" if w == "accelerate" else w)
            i += 2 if w == "accelerate" else 1
            while i < len(words) and words[i].startswith("-") and words[i] not in ("-m", "--module"):
                flag = words[i]
                i += 1
                if "=" not in flag and i < len(words) and not words[i].startswith("-") and \
                        not words[i].endswith(".py") and not _PYTHON.match(words[i]):
                    i += 1  # the flag's value
        elif _PYTHON.match(w) and words[i + 1:i + 3] and words[i + 1] == "-m" and \
                words[i + 2].startswith("torch.distributed"):
            seen.append("torch.distributed.launch")
            i += 3
            while i < len(words) and words[i].startswith("-") and words[i] != "-m":
                flag = words[i]
                i += 1
                if "=" not in flag and i < len(words) and not words[i].startswith("-") and \
                        not words[i].endswith(".py") and flag not in ("--use_env", "--use-env", "--standalone"):
                    i += 1
        else:
            break
    return words[i:], seen


def _module_file(project: Path, cwd: str, module: str) -> str | None:
    base = module.replace(".", "/")
    for cand in (f"{base}.py", f"{base}/__main__.py", f"src/{base}.py", f"src/{base}/__main__.py"):
        rel = posixpath.normpath(posixpath.join(cwd, cand)) if cwd else cand
        if (project / rel).is_file():
            return rel
    return None


def _file(project: Path, cwd: str, path: str) -> str | None:
    rel = posixpath.normpath(posixpath.join(cwd, path.removeprefix("./"))) if cwd else \
        posixpath.normpath(path.removeprefix("./"))
    if rel.startswith("..") or os.path.isabs(rel):
        return None
    return rel if (project / rel).is_file() else None


_GENERIC = {"py", "main", "run", "train", "lit", "script", "new", "old", "v2", "the", "my"}


def _renamed(project: Path, cwd: str, path: str) -> str | None:
    """The script a README names but the folder no longer has, when exactly one file there shares a distinctive
    word with it (lit_classifier_main.py -> lit_image_classifier.py)."""
    folder = posixpath.dirname(posixpath.normpath(posixpath.join(cwd, path.removeprefix("./"))))
    words = set(re.split(r"[_.-]", posixpath.basename(path).lower())) - _GENERIC
    if not words or not (project / folder).is_dir():
        return None
    scored = []
    for f in sorted((project / folder).glob("*.py")):
        shared = words & set(re.split(r"[_.-]", f.name.lower()))
        if shared:
            scored.append((len(shared), posixpath.join(folder, f.name) if folder not in ("", ".") else f.name))
    best = [rel for n, rel in scored if n == max(n for n, _ in scored)] if scored else []
    return best[0] if len(best) == 1 else None


def parse_command(project: Path, cwd: str, words: list[str], names: dict[str, set[str]]) -> dict[str, Any] | None:
    """What one command runs: {kind, runs|target, launchers}, or None when it is not a program of this project.

    `names` holds the project's make/just/invoke targets and [project.scripts] names."""
    prog, launchers = strip_launchers(words)
    if not prog:
        return None
    head = prog[0]
    if _PYTHON.match(head) or (launchers and (head.endswith(".py") or head in ("-m", "--module"))):
        rest = prog[1:] if _PYTHON.match(head) else prog
        while rest and rest[0] in ("-u", "-O", "-B", "-W", "-X") or rest and rest[0].startswith("-W"):
            rest = rest[2:] if rest[0] in ("-W", "-X") else rest[1:]
        if not rest:
            return None
        if rest[0] in ("-m", "--module") and len(rest) > 1:
            runs = _module_file(project, cwd, rest[1])
            args = rest[2:]
        elif rest[0].endswith(".py"):
            runs = _file(project, cwd, rest[0])
            args = rest[1:]
            if runs is None:  # a README older than the code: the script it names was renamed
                renamed = _renamed(project, cwd, rest[0])
                if renamed:
                    return {"kind": "python", "runs": renamed, "args": args, "launchers": launchers,
                            "renamed_from": rest[0]}
        else:
            return None
        return {"kind": "python", "runs": runs, "args": args, "launchers": launchers} if runs else None
    if head in ("bash", "sh", "zsh", "source", ".") and len(prog) > 1 and prog[1].endswith(".sh"):
        runs = _file(project, cwd, prog[1])
        return {"kind": "shell", "runs": runs, "launchers": launchers} if runs else None
    if head.endswith(".sh") and (head.startswith("./") or "/" in head):
        runs = _file(project, cwd, head)
        return {"kind": "shell", "runs": runs, "launchers": launchers} if runs else None
    if head.endswith(".py") and head.startswith("./"):
        runs = _file(project, cwd, head)
        return {"kind": "python", "runs": runs, "args": prog[1:], "launchers": launchers} if runs else None
    if head in ("make", "just", "invoke", "inv") and len(prog) > 1 and not cwd:
        tool = "invoke" if head == "inv" else head
        target = next((w for w in prog[1:] if not w.startswith("-") and "=" not in w), None)
        if target and target in names.get(tool, set()):
            return {"kind": tool, "target": target, "launchers": launchers}
        return None
    if head in names.get("project_script", set()) and not cwd:
        return {"kind": "project_script", "target": head, "launchers": launchers}
    return None


def readme_commands(project: Path, names: dict[str, set[str]]) -> tuple[str | None, list[dict[str, Any]]]:
    """(README path, [{command, order, kind, runs|target, launchers}]) for each README line that runs a program
    of this project, in README order."""
    path = find_readme(project)
    if path is None:
        return None, []
    try:
        with open(path, "rb") as fh:
            text = fh.read(MAX_README).decode("utf-8", "replace")
    except OSError:
        return None, []
    found: list[dict[str, Any]] = []
    cwd, cloned = "", set()
    for line in shell_lines(text):
        if not line:
            cwd = ""
            continue
        for words in split_commands(line):
            if words[:2] == ["git", "clone"]:
                args = [w for w in words[2:] if not w.startswith("-")]
                if args:
                    cloned.add(args[1] if len(args) > 1 else args[0].rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"))
                continue
            if words[0] == "cd" and len(words) > 1:
                target = words[1].rstrip("/")
                if target in cloned or target.split("/", 1)[0] in cloned:
                    cwd = target.split("/", 1)[1] if "/" in target else ""  # into the clone: the project root
                elif target.startswith(("/", "~", "$")):
                    cwd = ""
                elif (project / posixpath.normpath(posixpath.join(cwd, target))).is_dir():
                    cwd = posixpath.normpath(posixpath.join(cwd, target))
                    cwd = "" if cwd == "." else cwd
                else:
                    cwd = ""  # `cd repo-name` after a clone: the project root
                continue
            used = cwd
            hit = parse_command(project, cwd, words, names)
            if hit is None and cwd:  # a `cd` the README assumes but this checkout does not have
                used, hit = "", parse_command(project, "", words, names)
            if hit:
                if hit.get("renamed_from"):  # offer the file that exists, and say what the README named
                    words = [posixpath.basename(hit["runs"]) if w == hit["renamed_from"] else w for w in words]
                program = " ".join(shlex.quote(w) if (" " in w or not w) else w for w in words)
                hit["command"] = f"cd {used} && {program}" if used else program
                hit["order"] = len(found)
                found.append(hit)
    return path.name, found
