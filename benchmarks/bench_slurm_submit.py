"""A 100-trial sweep submitted to Slurm as one job array vs 100 separate sbatch calls.

Starts a real one-node Slurm cluster on localhost (tests/slurm_cluster.py; needs slurm-wlm + munge and root).
Two expkit paths are timed:
- the submit path (runs.launch.submit_requests): capture the code state once, write 100 run dirs (manifest,
  status, batch script), one array script, one sbatch;
- the whole `expkit sweep run SPEC --backend slurm --detach`: spec, sbatch --test-only, the sweep's 100 job
  files, the submit path, the job files updated with the job ids.
The baseline is the cost of sbatch alone, called once per trial with a ready-made script. All run side by side
in this process, best of 3 rounds each; the queue is emptied after each round.

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


def expkit_array(repo: Path, runs_dir: Path) -> float:
    from expkit.runs.launch import LaunchRequest, submit_requests

    t0 = time.perf_counter()
    requests = [LaunchRequest(argv=["python3", "train.py", f"--lr={0.001 * (i + 1):.3f}"], name="trial", cwd=repo,
                              runs_dir=runs_dir, seed=i, group="bench") for i in range(N)]
    subs = submit_requests("slurm", requests, limit=LIMIT)
    elapsed = time.perf_counter() - t0
    assert len(subs) == N and all(s.job_id for s in subs)
    return elapsed


SPEC = ("name: bench{r}\nmethod: grid\nparameters:\n  lr: {{values: [{lrs}]}}\n  bs: {{values: [8, 16, 32, 64]}}\n"
        "command: python3 train.py --lr ${{lr}} --bs ${{bs}}\n")


def expkit_sweep(repo: Path, runs_dir: Path, r: int) -> float:
    import yaml

    from expkit.sweeps.spec import parse_spec
    from expkit.sweeps.sweep import RunOptions, run_sweep

    lrs = ", ".join(f"{0.001 * (i + 1):.3f}" for i in range(N // 4))
    t0 = time.perf_counter()
    spec = parse_spec(yaml.safe_load(SPEC.format(r=r, lrs=lrs)))
    out = run_sweep(spec, RunOptions(backend="slurm", max_parallel=LIMIT, detach=True, cwd=repo), runs_dir)
    elapsed = time.perf_counter() - t0
    assert len(out["submitted"]) == N and all(s["job_id"] for s in out["submitted"]), out
    return elapsed


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
    ours, sweeps, base = [], [], []
    try:
        for r in range(3):
            for times, step in ((ours, lambda: expkit_array(repo, work / f"runs{r}")),
                                (sweeps, lambda: expkit_sweep(repo, work / f"sweep-runs{r}", r)),
                                (base, lambda: separate_sbatch(repo))):
                times.append(step())
                subprocess.run(["scancel", "--user", "root"], check=True)
    finally:
        cluster.stop()
    o, sw, b = min(ours), min(sweeps), min(base)
    print(f"expkit: {N}-trial sweep as one job array (%{LIMIT}): capture once, 100 run dirs with manifest, status "
          f"and batch script, one sbatch: {o:.2f} s (target <= 2 s)")
    print(f"expkit sweep run --backend slurm --detach, {N} trials as one job array (%{LIMIT}): {sw:.2f} s "
          f"(target <= 2 s)")
    print(f"baseline: {N} separate sbatch calls: {b:.2f} s")
    print(f"ratio expkit / baseline: submit path {o / b:.2f}, whole sweep run {sw / b:.2f}")


if __name__ == "__main__":
    main()
