"""The local queue against `xargs -P 4`: 200 jobs of 0.2 s on 4 slots, side by side in one process.

Prints the makespan ratio (target <= 1.10) and the scheduler's CPU per job (target <= 20 ms), measured as the
scheduler process's own CPU time (getrusage) divided by the number of jobs; the supervisors' CPU is shown apart.
Each job is `sleep 0.2`, so what is measured is the scheduling, not the jobs.

    python benchmarks/bench_queue.py [--jobs 200] [--slots 4] [--seconds 0.2]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))

from expkit.sweeps.sweep import RunOptions, queue_add, queue_run  # noqa: E402


def cpu(who) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def bench_xargs(n: int, slots: int, seconds: float) -> float:
    cmds = "\n".join(f"sleep {seconds}" for _ in range(n)) + "\n"
    t0 = time.perf_counter()
    subprocess.run(["xargs", "-P", str(slots), "-I{}", "sh", "-c", "{}"], input=cmds.encode(), check=True)
    return time.perf_counter() - t0


def bench_expkit(n: int, slots: int, seconds: float, work: Path) -> tuple[float, float, float]:
    runs = work / "runs"
    for _ in range(n):
        queue_add(["sleep", str(seconds)], runs, queue="bench", cwd=work)
    self0, child0 = cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    result = queue_run(RunOptions(gpus="none", max_parallel=slots), runs, queue="bench")
    wall = time.perf_counter() - t0
    self_cpu, child_cpu = cpu(resource.RUSAGE_SELF) - self0, cpu(resource.RUSAGE_CHILDREN) - child0
    assert result["counts"]["succeeded"] == n, result["counts"]
    return wall, self_cpu, child_cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=200)
    ap.add_argument("--slots", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=0.2)
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_queue_"))
    try:
        x1 = bench_xargs(a.jobs, a.slots, a.seconds)
        e_wall, e_self, e_child = bench_expkit(a.jobs, a.slots, a.seconds, work)
        x2 = bench_xargs(a.jobs, a.slots, a.seconds)  # xargs before and after: the machine's load drifts
        xargs = (x1 + x2) / 2
        ideal = a.jobs * a.seconds / a.slots
        print(f"{a.jobs} jobs of {a.seconds}s on {a.slots} slots (ideal makespan {ideal:.2f}s)")
        print(f"xargs -P {a.slots}: {x1:.2f}s, {x2:.2f}s (mean {xargs:.2f}s)")
        print(f"expkit queue:  {e_wall:.2f}s")
        print(f"makespan ratio expkit / xargs: {e_wall / xargs:.3f} (target <= 1.10)")
        print(f"scheduler CPU per job: {1000 * e_self / a.jobs:.1f} ms (target <= 20 ms)")
        print(f"supervisors + jobs CPU per job: {1000 * e_child / a.jobs:.1f} ms (each job is `sleep`, "
              "so this is mostly the forked supervisor)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
