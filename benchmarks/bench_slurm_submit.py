"""A 100-trial sweep submitted to Slurm as one job array vs 100 separate sbatch calls.

Starts a real one-node Slurm cluster on localhost (tests/slurm_cluster.py; needs slurm-wlm + munge and root).
expkit's side is everything it does: capture the code state once, write 100 run dirs (manifest, status,
batch script), one array script, one sbatch. The baseline is the cost of sbatch alone, called once per
trial with a ready-made script. Both run side by side in this process, best of 3 rounds each; the queue is
emptied after each round.

    python benchmarks/bench_slurm_submit.py
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

from slurm_cluster import SlurmCluster, missing_reason  # noqa: E402

N = 100
LIMIT = 8


def expkit_array(repo: Path, runs_dir: Path) -> tuple[float, float]:
    from expkit import backends
    from expkit.runs.launch import LaunchRequest, capture_context, prepare

    t0 = time.perf_counter()
    ctx, items = None, []
    for i in range(N):
        argv = ["python3", "train.py", f"--lr={0.001 * (i + 1):.3f}"]
        req = LaunchRequest(argv=argv, name="trial", cwd=repo, runs_dir=runs_dir, seed=i, group="bench",
                            backend="slurm")
        ctx = ctx or capture_context(argv, dict(os.environ), repo, runs_dir)
        run, env, _ = prepare(req, ctx)
        items.append((run, argv, env))
    t1 = time.perf_counter()
    subs = backends.launch_runs("slurm", items, repo, limit=LIMIT)
    t2 = time.perf_counter()
    assert len(subs) == N and all(s.job_id for s in subs)
    return t2 - t0, t2 - t1


def separate_sbatch(folder: Path) -> float:
    script = folder / "job.sbatch"
    script.write_text(f"#!/bin/bash\n#SBATCH --output={folder}/%j.out\ncd {folder}\npython3 train.py\n")
    t0 = time.perf_counter()
    for _ in range(N):
        subprocess.run(["sbatch", "--parsable", str(script)], check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    reason = missing_reason()
    if reason:
        print(f"skipped: {reason}")
        return
    work = Path(tempfile.mkdtemp(prefix="bench-slurm-"))
    os.chmod(work, 0o755)
    cluster = SlurmCluster(work / "cluster", 1)
    (work / "cluster").mkdir()
    cluster.start()
    os.environ.update(cluster.env)
    repo = work / "project"
    repo.mkdir()
    (repo / "train.py").write_text("print('ok')\n")
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "x"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    ours, base = [], []
    try:
        for r in range(3):
            ours.append(expkit_array(repo, work / f"runs{r}"))
            subprocess.run(["scancel", "--user", "root"], check=True)
            base.append(separate_sbatch(repo))
            subprocess.run(["scancel", "--user", "root"], check=True)
    finally:
        cluster.stop()
    o, sub = min(ours)
    b = min(base)
    print(f"expkit: {N}-trial sweep as one job array (%{LIMIT}), 100 run dirs + manifests: {o:.2f} s (target <= 2 s)")
    print(f"  of which preparing the 100 run dirs (capture once, manifest + status each): {o - sub:.2f} s; "
          f"batch scripts + array script + one sbatch + job ids recorded: {sub:.2f} s")
    print(f"baseline: {N} separate sbatch calls: {b:.2f} s")
    print(f"ratio expkit total / baseline: {o / b:.2f}")
    print(f"ratio submission part (scripts + one sbatch) / baseline: {sub / b:.2f}")


if __name__ == "__main__":
    main()
