"""The sweep part of `expkit demo`: a tiny CPU grid sweep of a pure-Python training script, then its report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

TRAIN = '''\
"""Linear regression by gradient descent on synthetic data: pure Python, a second of CPU."""
import argparse, json, os, random

ap = argparse.ArgumentParser()
ap.add_argument("--lr", type=float, default=0.1)
ap.add_argument("--batch-size", type=int, default=16)
ap.add_argument("--epochs", type=int, default=8)
args = ap.parse_args()
rng = random.Random(int(os.environ.get("EXPKIT_SEED", "0")))
data = [(x, 3.0 * x - 1.0 + rng.gauss(0, 0.1)) for x in (rng.uniform(-1, 1) for _ in range(256))]
w = b = 0.0
out = open(os.path.join(os.environ.get("EXPKIT_RUN_DIR", "."), "metrics.jsonl"), "a")
for epoch in range(args.epochs):
    rng.shuffle(data)
    for i in range(0, len(data), args.batch_size):
        batch = data[i:i + args.batch_size]
        gw = sum(2 * (w * x + b - y) * x for x, y in batch) / len(batch)
        gb = sum(2 * (w * x + b - y) for x, y in batch) / len(batch)
        w, b = w - args.lr * gw, b - args.lr * gb
    loss = sum((w * x + b - y) ** 2 for x, y in data) / len(data)
    out.write(json.dumps({"step": epoch, "val_loss": loss}) + "\\n"); out.flush()
    print(f"epoch {epoch + 1}/{args.epochs} val_loss={loss:.5f}", flush=True)
'''

SPEC = f'''\
name: demo-sweep
method: grid
metric: {{name: val_loss, goal: minimize}}
parameters:
  lr: {{values: [0.003, 0.03, 0.3]}}
  batch_size: {{values: [16, 64]}}
fixed: {{epochs: 6}}
command: {sys.executable} train.py --lr ${{lr}} --batch-size ${{batch_size}} --epochs ${{epochs}}
'''


def run_demo(workdir: Path, echo: Callable[[str], None] = print, parallel: int = 2) -> dict[str, Any]:
    """Write the project into `workdir`, run the 6-trial grid on `parallel` CPU slots, print the report."""
    from expkit.analysis.report import render_text, sweep_report
    from expkit.sweeps.spec import load_spec
    from expkit.sweeps.sweep import RunOptions, run_sweep

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "train.py").write_text(TRAIN)
    (workdir / "sweep.yaml").write_text(SPEC)
    if not (workdir / ".git").exists():
        from expkit.demo_repo import init_demo_repo

        try:
            init_demo_repo(workdir, "demo project", ("train.py", "sweep.yaml"))
        except (OSError, subprocess.CalledProcessError):
            pass  # without git the runs still work; their manifests say the code state is not recorded
    runs_dir = workdir / "runs"
    echo(f"sweep: 3 learning rates x 2 batch sizes of {workdir / 'train.py'}, {parallel} at a time on CPU")
    result = run_sweep(load_spec(workdir / "sweep.yaml"), RunOptions(gpus="none", max_parallel=parallel,
                                                                     cwd=workdir), runs_dir,
                       echo=lambda m: echo("  " + m))
    report = sweep_report("demo-sweep", runs_dir.resolve())
    echo(render_text(report))
    return {"sweep": result, "report": report}
