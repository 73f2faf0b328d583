"""Which seed a run really uses, and how it gets there.

Exporting EXPKIT_SEED and PYTHONHASHSEED does not seed a script that takes `--seed 1111`: it runs with 1111. So
before launch the command and the entry point are read (statically, never imported):

- the command already sets the seed (`--seed 5`, `--seed=5`, `seed=5`, `--seed_everything 5`): that is the seed;
- the entry point takes a seed (argparse/click/typer/tyro `--seed`, a dataclass or HF TrainingArguments `seed`,
  a Hydra config with a top-level `seed`, LightningCLI's `--seed_everything`): an explicit `launch --seed N` is
  passed through that flag; without one, the script's own default is the seed (and when it has no default,
  expkit's generated seed is passed so the run can be repeated);
- otherwise the seed is only exported (`applied: false`): the manifest says so instead of claiming it.

The manifest's `seed.value` is the seed the script used, or null when nothing shows which one it used;
`seed.exported` is what EXPKIT_SEED and PYTHONHASHSEED were set to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SEED_NAMES = ("seed", "random_seed", "random-seed", "seed_everything", "rng_seed", "manual_seed")
_ON_COMMAND = re.compile(r"^(?:--?|\+{1,2})?(" + "|".join(re.escape(n) for n in SEED_NAMES) + r")(?:=(.*))?$")


@dataclass
class SeedPlan:
    argv: list[str]
    value: Any                   # the seed the script uses, or None when unknown
    exported: int                # EXPKIT_SEED / PYTHONHASHSEED
    applied: bool
    source: str                  # explicit | generated | command | script default | sweep parameter | exported only
    how: str                     # one sentence for people
    flag: str | None = None
    warnings: list[str] = field(default_factory=list)

    def manifest(self) -> dict[str, Any]:
        return {"value": self.value, "source": self.source, "applied": self.applied, "exported": self.exported,
                "exported_as": ["EXPKIT_SEED", "PYTHONHASHSEED"], "flag": self.flag, "how": self.how}


def _int(text: Any) -> Any:
    try:
        return int(str(text))
    except ValueError:
        return text


def seed_on_command(argv: list[str]) -> tuple[str, Any] | None:
    """(flag as written, value) when the command itself sets a seed."""
    for i, item in enumerate(argv[1:], start=1):
        m = _ON_COMMAND.match(item)
        if not m:
            continue
        if m.group(2) is not None:
            return item.split("=", 1)[0], _int(m.group(2))
        if item.startswith("-") and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            return item, _int(argv[i + 1])
    return None


def entry_script(argv: list[str], cwd: Path) -> Path | None:
    """The Python file the command runs: the first `*.py` or `-m module` in it, so `python train.py`,
    `torchrun --nproc_per_node 2 train.py`, `accelerate launch train.py` and `uv run python -m pkg.train` all
    name their script."""
    for i, item in enumerate(argv):
        if item == "-m" and i + 1 < len(argv):
            mod = cwd / argv[i + 1].replace(".", "/")
            return next((c for c in (mod.with_suffix(".py"), mod / "__main__.py") if c.is_file()), None)
        if item.endswith(".py") and not item.startswith("-"):
            path = Path(item) if Path(item).is_absolute() else cwd / item
            return path if path.is_file() else None
    return None


def seed_flag(script: Path) -> tuple[str, Any, str] | None:
    """(how to pass it: '--seed' / 'seed=' / '--seed_everything', the script's default, the config style)."""
    from expkit.entrypoints.analyze import analyze_file

    try:
        info = analyze_file(script)  # parsed once per version of the file: a sweep launches it for every trial
    except OSError:
        return None
    config = info.get("config") or {}
    style = config.get("style")
    for flag in config.get("flags") or []:
        name = str(flag.get("name", ""))
        bare = name.lstrip("-+").replace("-", "_")
        if bare in ("seed", "random_seed", "seed_everything", "rng_seed", "manual_seed"):
            if flag.get("kind") == "override":
                return f"{name}=", flag.get("default"), style
            if name.startswith("-"):
                return name, flag.get("default"), style
    if "lightning_cli" in (config.get("styles") or []):
        return "--seed_everything", None, "lightning_cli"
    if "hf_argparser" in (config.get("styles") or []) and any(
            str(f.get("help", "")).startswith("and every other") for f in config.get("flags") or []):
        return "--seed", 42, "hf_argparser"  # TrainingArguments.seed defaults to 42
    return None


def plan(argv: list[str], cwd: Path, requested: int | None, generated: int, apply: bool = True,
         declared: tuple[Any, str] | None = None) -> SeedPlan:
    """How the run gets its seed. `requested`: launch --seed; `declared`: (value, what) a sweep parameter."""
    exported = requested if requested is not None else generated
    if declared is not None:
        value, what = declared
        return SeedPlan(list(argv), value, value if isinstance(value, int) else exported, True, "sweep parameter",
                        f"the trial's own {what} parameter")
    on_cmd = seed_on_command(argv)
    if on_cmd:
        flag, value = on_cmd
        warnings = []
        if requested is not None and value != requested:
            warnings.append(f"the command sets {flag} {value}, so --seed {requested} was not applied")
        return SeedPlan(list(argv), value, value if isinstance(value, int) else exported, True, "command",
                        f"set on the command ({flag} {value})", flag, warnings)
    script = entry_script(argv, cwd)
    found = seed_flag(script) if script else None
    if found:
        flag, default, _style = found
        name = flag.rstrip("=")
        if apply and (requested is not None or default is None):
            seed = exported
            extra = [f"{flag}{seed}"] if flag.endswith("=") else [flag, str(seed)]
            return SeedPlan(list(argv) + extra, seed, seed, True, "explicit" if requested is not None else "generated",
                            f"passed to the script as {' '.join(extra)}", name)
        if default is not None:
            return SeedPlan(list(argv), default, default if isinstance(default, int) else exported, True,
                            "script default", f"the script's own default ({name} {default})", name)
        return SeedPlan(list(argv), None, exported, False, "exported only",
                        f"the script takes {name} but the command does not set it and it has no default", name)
    if script is not None and "EXPKIT_SEED" in script.read_text(encoding="utf-8", errors="replace"):
        return SeedPlan(list(argv), exported, exported, True, "explicit" if requested is not None else "generated",
                        "read by the script from EXPKIT_SEED")
    warnings = []
    if requested is not None and apply:
        warnings.append(f"--seed {requested} was exported (EXPKIT_SEED, PYTHONHASHSEED), but the command takes no "
                        "seed flag or key: the script may not use it")
    return SeedPlan(list(argv), None, exported, False, "exported only",
                    "exported as EXPKIT_SEED and PYTHONHASHSEED; the script takes no seed flag or key, so nothing "
                    "shows it uses them", None, warnings)
