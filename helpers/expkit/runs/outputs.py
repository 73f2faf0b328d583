"""Output paths a command writes inside the repository: a fixed `--save model.pt` is overwritten by every run.

Read from the command's own flags and, for a Python script, from its argparse defaults (statically, with
entrypoints.analyze: the user's code is never imported). The fix expkit suggests is the run's own folder:
`$EXPKIT_RUN_DIR` in a command is replaced by the run directory when the run starts.
"""

from __future__ import annotations

import re
from pathlib import Path

RUN_DIR_VAR = "EXPKIT_RUN_DIR"
_OUTPUT_FLAG = re.compile(r"^--?(save|save[-_]?(path|dir|model|to)|out|output|out[-_]?dir|output[-_]?dir|"
                          r"output[-_]?path|checkpoint|checkpoint[-_]?dir|ckpt|ckpt[-_]?dir|model[-_]?path|"
                          r"log[-_]?dir|save[-_]?model[-_]?path)$", re.I)


def expand_run_dir(argv: list[str], run_dir: str) -> list[str]:
    """`$EXPKIT_RUN_DIR` / `${EXPKIT_RUN_DIR}` in any argument -> the run directory (no shell runs the command)."""
    return [a.replace("${" + RUN_DIR_VAR + "}", run_dir).replace("$" + RUN_DIR_VAR, run_dir) for a in argv]


def _inside(value: str, cwd: Path) -> bool:
    if not value or RUN_DIR_VAR in value or value.startswith(("$", "~", "-")) or "://" in value:
        return False
    path = Path(value)
    if path.is_absolute():
        try:
            path.resolve().relative_to(cwd.resolve())
        except ValueError:
            return False
    return True


def _script(argv: list[str], cwd: Path) -> Path | None:
    for a in argv[:6]:
        if a.endswith(".py") and (cwd / a).is_file():
            return cwd / a
    return None


def script_output_flags(script: Path) -> list[dict]:
    """The script's own output flags (`--save`, `--out-dir`, ...: dashed names only, so the script's text alone
    decides them), from its analysis (parsed once per version of the file)."""
    from expkit.entrypoints.analyze import analyze_file

    try:
        flags = analyze_file(script)["config"]["flags"]
    except (OSError, ValueError, KeyError):
        return []
    return [f for f in flags if isinstance(f, dict) and _OUTPUT_FLAG.match(str(f.get("name", "")))]


def _configurator_overrides(argv: list[str], cwd: Path, script: Path) -> dict[str, tuple[str, str]]:
    """String values set by the config files a configurator script is given (`train.py config/x.py`)."""
    import ast

    out: dict[str, tuple[str, str]] = {}
    for a in argv:
        path = cwd / a
        if a.endswith(".py") and "=" not in a and path.is_file() and path.resolve() != script.resolve():
            try:
                tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
            except (SyntaxError, ValueError, OSError):
                continue
            for stmt in tree.body:
                if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
                        and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)):
                    out[stmt.targets[0].id] = (stmt.value.value, a)
    return out


def fixed_output_warnings(argv: list[str], cwd: Path) -> list[str]:
    """One warning per output flag that points inside the repository, given or defaulted."""
    found: dict[str, tuple[str, str]] = {}  # flag -> (value, given|default)
    equals: set[str] = set()  # flags only --name=value sets (nanoGPT's configurator splits on "=")
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if not _OUTPUT_FLAG.match(name):
            continue
        value = value if eq else (argv[i + 1] if i + 1 < len(argv) else "")
        found[name] = (value, "given")
    script = _script(argv, cwd)
    if script is not None:
        flags = script_output_flags(script)
        given = {n.replace("_", "-") for n in found}
        overrides = _configurator_overrides(argv, cwd, script)
        for f in flags:
            name, default = f.get("name", ""), f.get("default")
            configurator = f.get("kind") == "configurator"  # nanoGPT: out_dir is a folder every run writes
            where = "default"
            if configurator and name.lstrip("-") in overrides:
                default, where = overrides[name.lstrip("-")]
            if (_OUTPUT_FLAG.match(name) and isinstance(default, str) and name.replace("_", "-") not in given
                    and (configurator or Path(default).suffix
                         or name.lstrip("-").lower() in ("save", "checkpoint", "ckpt"))):
                found[name] = (default, where)
                if configurator:
                    equals.add(name)
    out = []
    for name, (value, how) in found.items():
        if not _inside(value, cwd):
            continue
        suggested = (f"'{name}=${RUN_DIR_VAR}/{Path(value).name}'" if name in equals
                     else f"{name} '${RUN_DIR_VAR}/{Path(value).name}'")
        origin = (f"its default in {script.name}" if how == "default" and script
                  else how if how == "given" else f"set in {how}")
        out.append(f"{name} {value} ({origin}) "
                   f"writes inside the repository: every run overwrites it. Give each run its own: {suggested} "
                   f"(expkit puts the run's folder there)")
    return out


def shared_output_warnings(commands: list[list[str]], ids: list[str]) -> list[str]:
    """Jobs run side by side that name the same output path: one warning per path (a path with $EXPKIT_RUN_DIR
    is each run's own)."""
    seen: dict[tuple[str, str], list[str]] = {}
    for jid, argv in zip(ids, commands):
        for i, arg in enumerate(argv):
            name, eq, value = arg.partition("=")
            if not _OUTPUT_FLAG.match(name):
                continue
            value = value if eq else (argv[i + 1] if i + 1 < len(argv) else "")
            if value and RUN_DIR_VAR not in value:
                seen.setdefault((name, value), []).append(jid)
    out = []
    for (name, value), who in seen.items():
        if len(who) > 1:
            names = ", ".join(who[:4]) + (f" and {len(who) - 4} more" if len(who) > 4 else "")
            out.append(f"{len(who)} jobs write the same {name} {value} ({names}): run side by side they overwrite "
                       f"each other's file; give each its own: {name} '${RUN_DIR_VAR}/{Path(value).name}'")
    return out
