"""A 10^9-point grid with max_trials: 5 against a 5-point grid: planning (`sweep run --dry-run`), `sweep estimate`
(no smoke run) and `schedule` must cost the same, since only the 5 trials that run are ever computed.

Prints the seconds of each for both specs, side by side in one process, and the ratio (target: under 1 s for the
billion-point grid, ratio near 1).

    python benchmarks/bench_lazy_grid.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))

from expkit.sweeps.estimate import estimate_sweep  # noqa: E402
from expkit.sweeps.schedule import plan_jobs, render  # noqa: E402
from expkit.sweeps.spec import load_spec  # noqa: E402
from expkit.sweeps.sweep import RunOptions, run_sweep  # noqa: E402

HUGE = ("name: huge\nmethod: grid\nmax_trials: 5\ncommand: python -c pass --a ${a} --b ${b} --c ${c}\n"
        "parameters:\n  a: {distribution: int_uniform, min: 0, max: 999}\n"
        "  b: {distribution: int_uniform, min: 0, max: 999}\n  c: {distribution: int_uniform, min: 0, max: 999}\n")
SMALL = ("name: small\nmethod: grid\ncommand: python -c pass --a ${a}\n"
         "parameters:\n  a: {values: [0, 1, 2, 3, 4]}\n")


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def schedule(path: Path, runs: Path, tmp: Path) -> str:
    jobs = plan_jobs({"spec": path}, runs, tmp, tmp / "night.sh")
    return render(jobs["commands"], [""], ids=jobs["ids"], state_dir=str(jobs["batch"].root), runs_dir=str(runs),
                  root=".")


def measure(text: str, tmp: Path) -> dict[str, float]:
    path = tmp / "sweep.yaml"
    path.write_text(text)
    runs = tmp / "runs"
    return {
        "dry-run": timed(lambda: run_sweep(load_spec(path), RunOptions(gpus="none", dry_run=True), runs_dir=runs)),
        "estimate": timed(lambda: estimate_sweep(load_spec(path), runs, gpus="none", smoke_seconds=None)),
        "schedule": timed(lambda: schedule(path, runs, tmp)),
    }


def cli_seconds(text: str, tmp: Path, *args: str) -> float:
    """Wall time of one `expkit ...` process on the spec, as a user starts it."""
    import os
    import subprocess

    (tmp / "sweep.yaml").write_text(text.replace("command: python", f"command: {sys.executable}"))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "helpers")}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "expkit", *args], cwd=tmp, env=env, check=True, capture_output=True,
                   timeout=120)
    return time.perf_counter() - t0


def main() -> None:
    for args in (["sweep", "run", "sweep.yaml", "--dry-run", "--gpus", "none"],
                 ["sweep", "run", "sweep.yaml", "--gpus", "none", "--max-parallel", "5"],
                 ["sweep", "estimate", "sweep.yaml", "--no-smoke", "--gpus", "none"],
                 ["schedule", "--spec", "sweep.yaml", "-o", "night.sh"]):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            huge, small = cli_seconds(HUGE, Path(a), *args), cli_seconds(SMALL, Path(b), *args)
        label = " ".join(a for a in args if a not in ("sweep.yaml", "--gpus", "none", "-o", "night.sh"))
        print(f"expkit {label:<36} whole process: 10^9-point grid {huge:.2f}s, 5-point grid {small:.2f}s")
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b, \
            tempfile.TemporaryDirectory() as warm:
        measure(SMALL, Path(warm))  # warm the imports; each measured spec gets a fresh project
        huge, small = measure(HUGE, Path(a)), measure(SMALL, Path(b))
    for what in huge:
        print(f"{what:<9} 10^9-point grid, max_trials 5: {huge[what] * 1000:.1f} ms   5-point grid: {small[what] * 1000:.1f} ms   "
              f"ratio {huge[what] / max(small[what], 1e-6):.2f}")
    print(f"in-process, slowest for the 10^9-point grid: {max(huge.values()) * 1000:.1f} ms (target < 1 s)")


if __name__ == "__main__":
    main()
