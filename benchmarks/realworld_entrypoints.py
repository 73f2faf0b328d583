"""Scoreboard: does `expkit entrypoints` put the training command a project's README gives in its top 3?

Corpus: tests/realworld/entrypoints/<name>/ (SOURCES.tsv: repo, commit, licence; answers.json: the README's
training command, written from the README). Baseline: the same discovery with the README hidden, i.e. from the
code alone. Also counted: any candidate that runs a config-override file or a docker entrypoint as a script of
its own (target: none).

The corpus files are re-typed to their structure (tests/realworld/README.md). `--checkouts DIR` scores full
checkouts of the same repositories instead (DIR/<name>/, e.g. fetched with git at the SOURCES.tsv commits), which
is how the re-typed corpus is checked against the real repositories.

Usage: python benchmarks/realworld_entrypoints.py [--verbose] [--checkouts DIR]
"""

from __future__ import annotations

import argparse
import json
import posixpath
import re
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "helpers"))
CORPUS = ROOT / "tests" / "realworld" / "entrypoints"
FORBIDDEN = re.compile(r"(^|/)configs?/[^/]+\.py$|(^|/)(docker[-_]?)?entrypoint\.sh$|(^|/)docker/")


def normalize(command: str) -> tuple[str, tuple[str, ...]] | None:
    """What a command runs, whoever launches it: ("train.py", ("config/x.py",)) for
    `torchrun --nproc_per_node=8 train.py config/x.py --lr=1`, ("make train", ()) for `make train`.

    Runners (uv run, poetry run), launchers and their options, env assignments, flags and their values,
    key=value overrides and placeholders are dropped; `-m a.b` is the file a/b.py; a leading `cd D &&` is
    the folder of the file."""
    from expkit.entrypoints.readme import split_commands, strip_launchers

    cwd = ""
    for words in split_commands(command):
        if words[0] == "cd" and len(words) > 1:
            cwd = posixpath.normpath(posixpath.join(cwd, words[1]))
            continue
        prog, _ = strip_launchers(words)
        if not prog:
            continue
        head, rest = prog[0], prog[1:]
        if re.match(r"^python(\d(\.\d+)?)?$", head):
            while rest and rest[0] in ("-u", "-O", "-B"):
                rest = rest[1:]
            if rest[:1] == ["-m"] and len(rest) > 1:
                target, args = rest[1].replace(".", "/") + ".py", rest[2:]
            elif rest:
                target, args = rest[0], rest[1:]
            else:
                return None
        elif head in ("-m", "--module") and rest:
            target, args = rest[0].replace(".", "/") + ".py", rest[1:]
        elif head in ("bash", "sh") and rest:
            target, args = rest[0], rest[1:]
        elif head in ("make", "just", "invoke", "inv"):
            tool = "invoke" if head == "inv" else head
            return (f"{tool} {next((w for w in rest if not w.startswith('-')), '')}", ())
        else:
            target, args = head, rest
        target = posixpath.normpath(posixpath.join(cwd, target.removeprefix("./"))).removeprefix("src/")
        positional = []
        for a in args:
            if a.startswith("-"):
                break
            if "=" in a or a.startswith(("$", "<")):
                continue
            positional.append(a)
        return target, tuple(positional)
    return None


def score(hide_readme: bool = False, verbose: bool = False, root: Path | None = None) -> dict:
    from expkit.entrypoints.discover import find_entrypoints
    from expkit.entrypoints.readme import README_NAMES

    root = root or CORPUS
    answers = json.loads((CORPUS / "answers.json").read_text())
    rows, hits, forbidden = [], 0, []
    with tempfile.TemporaryDirectory() as tmp:
        for name, key in sorted(answers.items(), key=lambda kv: kv[0].lower()):
            project = root / name
            if hide_readme:
                project = Path(tmp) / name
                shutil.copytree(root / name, project, ignore=shutil.ignore_patterns(*README_NAMES))
            out = find_entrypoints(project)
            top = [normalize(c["command"]) for c in out["candidates"][:3]]
            wanted = {normalize(key["command"])} | {normalize(a) for a in key["accept"]}
            rank = next((i + 1 for i, n in enumerate(top) if n in wanted), None)
            hits += rank is not None
            for c in out["candidates"]:
                n = normalize(c["command"])
                if n and FORBIDDEN.search(n[0]):
                    forbidden.append(f"{name}: {c['command']}")
            rows.append((name, rank, key["command"], [c["command"] for c in out["candidates"][:3]]))
    if verbose:
        for name, rank, want, got in rows:
            print(f"{'ok ' if rank else 'MISS'} {name:32s} rank {rank or '-'}  README: {want}")
            if not rank:
                for g in got:
                    print(f"       got: {g}")
    return {"repos": len(rows), "top3": hits, "ratio": hits / len(rows), "forbidden": forbidden, "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--checkouts", type=Path, help="score full checkouts DIR/<name>/ instead of the corpus")
    args = ap.parse_args()
    full = score(verbose=args.verbose, root=args.checkouts)
    code = score(hide_readme=True, verbose=False, root=args.checkouts)
    print(f"README command in the top 3: {full['top3']}/{full['repos']} = {full['ratio']:.0%} (target >= 90%)")
    print(f"baseline, README hidden (code only): {code['top3']}/{code['repos']} = {code['ratio']:.0%}; "
          f"ratio {full['ratio'] / max(code['ratio'], 1e-9):.2f}x")
    print(f"override or docker files offered as a script: {len(full['forbidden'])} (target 0)"
          + "".join(f"\n  {f}" for f in full["forbidden"]))
    return 0 if full["ratio"] >= 0.9 and not full["forbidden"] else 1


if __name__ == "__main__":
    sys.exit(main())
