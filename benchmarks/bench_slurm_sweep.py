"""`expkit sweep run SPEC --backend slurm --detach` for a 100-trial grid vs 100 separate sbatch calls.

The whole sweep path in this process: spec, sbatch --test-only, the sweep's 100 job files, one code-state
capture, 100 run dirs (manifest, status, batch script), one array sbatch, the job files updated with the job
ids. The baseline is sbatch alone, once per trial, with a ready-made script. Real one-node Slurm cluster on
localhost (tests/slurm_cluster.py); best of 3 rounds each, side by side; the queue is emptied after each round.

    python benchmarks/bench_slurm_sweep.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "helpers"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_slurm_submit import N, separate_sbatch  # noqa: E402
from slurm_cluster import SlurmCluster, missing_reason  # noqa: E402

SPEC = ("name: bench{r}\nmethod: grid\nparameters:\n  lr: {{values: [{lrs}]}}\n  bs: {{values: [8, 16, 32, 64]}}\n"
        "command: python3 train.py --lr ${{lr}} --bs ${{bs}}\n")


def expkit_sweep(repo: Path, runs_dir: Path, r: int) -> float:
    from expkit.sweeps.spec import parse_spec
    from expkit.sweeps.sweep import RunOptions, run_sweep

    import yaml

    lrs = ", ".join(f"{0.001 * (i + 1):.3f}" for i in range(N // 4))
    t0 = time.perf_counter()
    spec = parse_spec(yaml.safe_load(SPEC.format(r=r, lrs=lrs)))
    out = run_sweep(spec, RunOptions(backend="slurm", max_parallel=8, detach=True, cwd=repo), runs_dir)
    elapsed = time.perf_counter() - t0
    assert len(out["submitted"]) == N and all(s["job_id"] for s in out["submitted"]), out
    return elapsed


def main() -> None:
    reason = missing_reason()
    if reason:
        print(f"skipped: {reason}")
        return
    work = Path(tempfile.mkdtemp(prefix="bench-slurm-sweep-"))
    os.chmod(work, 0o755)
    (work / "cluster").mkdir()
    cluster = SlurmCluster(work / "cluster", 1).start()
    os.environ.update(cluster.env)
    repo = work / "project"
    repo.mkdir()
    (repo / "train.py").write_text("print('ok')\n")
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    ours, base = [], []
    try:
        for r in range(3):
            ours.append(expkit_sweep(repo, work / f"runs{r}", r))
            subprocess.run(["scancel", "--user", "root"], check=True)
            base.append(separate_sbatch(repo))
            subprocess.run(["scancel", "--user", "root"], check=True)
    finally:
        cluster.stop()
    o, b = min(ours), min(base)
    print(f"expkit sweep run --backend slurm --detach, {N} trials as one job array (%8): {o:.2f} s (target <= 2 s)")
    print(f"baseline: {N} separate sbatch calls: {b:.2f} s")
    print(f"ratio expkit / baseline: {o / b:.2f}")


if __name__ == "__main__":
    main()
