"""Environment/hardware benchmarks: ratios against named baselines, measured side by side in one process.

1. `expkit gpus --json` with no GPU vs `python -c "import click"` (target <= 1.5x).
2. `expkit entrypoints --json` on a generated repository of 2,000 Python files vs a plain `ast.parse` of the
   files it chose to inspect (target <= 2 s and <= 1.5x), both as fresh processes; the in-process ratio
   (find_entrypoints() vs the ast.parse loop alone) is printed too, for what the walk costs.

Runs alternate A/B and the median is kept: absolute times on a shared machine are noise, ratios are not.
Usage: python benchmarks/bench_env.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELPERS = ROOT / "helpers"
ENV = {**os.environ, "PYTHONPATH": str(HELPERS)}
# what the installed `expkit` console script runs (pip's generated wrapper imports main and calls it)
EXPKIT = ["-c", "import sys; from expkit.cli import main; sys.exit(main())"]

MODULE = '''"""Generated module {i}."""
import math
import os

CONSTANT_{i} = {i}


class Layer{i}:
    def __init__(self, width: int = {i}):
        self.width = width
        self.scale = math.sqrt(width)

    def forward(self, xs):
        out = []
        for x in xs:
            out.append(x * self.scale + CONSTANT_{i})
        return out


def helper_{i}(path: str) -> bool:
    return os.path.exists(path) and len(path) > {i}
'''

TRAIN = '''import argparse
import torch
import wandb


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    for _ in range(args.epochs):
        opt.zero_grad()
        model(torch.randn(8, 4)).sum().backward()
        opt.step()


if __name__ == "__main__":
    main()
'''


def make_repo(root: Path, n: int = 2000) -> None:
    """n Python files in nested packages, with the entry points a real project has among them."""
    for i in range(n - 3):
        folder = root / "src" / "proj" / f"pkg{i % 20}" / f"sub{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod_{i}.py").write_text(MODULE.format(i=i))
    (root / "train.py").write_text(TRAIN)
    (root / "scripts").mkdir()
    (root / "scripts" / "train.sh").write_text("#!/bin/sh\ntorchrun --nproc_per_node=2 train.py --lr 3e-4\n")
    (root / "tools").mkdir()
    (root / "tools" / "main.py").write_text("if __name__ == '__main__':\n    print('tool')\n")
    (root / "tools" / "run.py").write_text("print('run')\n")
    (root / "Makefile").write_text("train:\n\tpython train.py --epochs 10\n")


def wall(argv: list[str], cwd: Path | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, env=ENV, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def side_by_side(a: list[str], b: list[str], rounds: int, cwd: Path | None = None) -> tuple[float, float]:
    wall(a, cwd), wall(b, cwd)  # warm the page cache
    ta, tb = [], []
    for _ in range(rounds):
        ta.append(wall(a, cwd))
        tb.append(wall(b, cwd))
    return statistics.median(ta), statistics.median(tb)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    rounds = ap.parse_args().rounds
    py = sys.executable

    gpus, click = side_by_side([py, *EXPKIT, "gpus", "--json"], [py, "-c", "import click"], rounds)
    print(f"gpus --json (no GPU): {gpus * 1000:.0f} ms vs import click {click * 1000:.0f} ms "
          f"-> ratio {gpus / click:.2f}x (target <= 1.5x)")

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        make_repo(repo)
        n_files = sum(1 for _ in repo.rglob("*.py"))
        out = subprocess.run([py, "-m", "expkit", "entrypoints", str(repo), "--json"], env=ENV, check=True,
                             capture_output=True, text=True)
        chosen = [str(repo / f) for f in json.loads(out.stdout)["inspected_files"]]
        listing = Path(tmp) / "chosen.txt"
        listing.write_text("\n".join(chosen))
        baseline = [py, "-c", "import ast, sys\nfor f in open(sys.argv[1]).read().split('\\n'):\n"
                              "    ast.parse(open(f).read(), filename=f)", str(listing)]
        ep, parse = side_by_side([py, *EXPKIT, "entrypoints", str(repo), "--json"], baseline, rounds)
        print(f"entrypoints on {n_files} files ({len(chosen)} inspected): {ep * 1000:.0f} ms vs plain ast.parse "
              f"of those files {parse * 1000:.0f} ms -> ratio {ep / parse:.2f}x (targets <= 2 s, <= 1.5x)")

        sys.path.insert(0, str(HELPERS))
        import ast

        from expkit.entrypoints.discover import find_entrypoints

        ta, tb = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            find_entrypoints(repo)
            ta.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for f in chosen:
                ast.parse(Path(f).read_text(), filename=f)
            tb.append(time.perf_counter() - t0)
        a, b = statistics.median(ta), statistics.median(tb)
        print(f"in process: find_entrypoints {a * 1000:.1f} ms vs ast.parse of the chosen files {b * 1000:.1f} ms "
              f"-> {a / b:.1f}x (the difference is the directory walk over {n_files} files)")

        # The inspection itself: expkit's static analysis of each chosen file (one ast.parse plus its walks over
        # the tree for config style, flags, framework, launch hints, tracking) against ast.parse alone.
        from expkit.entrypoints.analyze import analyze

        ta, tb = [], []
        for _ in range(rounds * 4):
            t0 = time.perf_counter()
            for f in chosen:
                analyze(Path(f))
            ta.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            for f in chosen:
                ast.parse(Path(f).read_text(), filename=f)
            tb.append(time.perf_counter() - t0)
        a, b = statistics.median(ta), statistics.median(tb)
        print(f"inspection of the chosen files: analyze {a * 1000:.2f} ms vs ast.parse {b * 1000:.2f} ms "
              f"-> ratio {a / b:.2f}x (target <= 1.5x) {'PASS' if a / b <= 1.5 else 'FAIL'}")


if __name__ == "__main__":
    main()
