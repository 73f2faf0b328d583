"""Diagnose a big generated log against `grep -c -E` with the same patterns over the same file.

Prints, side by side in one run:
  - full scan: diagnose(..., full=True) time / `LC_ALL=C grep -c -E <all rule patterns>` time  (target <= 1.5)
  - peak memory of a process that diagnoses the log                                             (target <= 100 MB)
  - tail-first: diagnose() of the same log whose failure is in the last MB                      (target <= 100 ms)

    python benchmarks/bench_diagnose.py [--size-mb 1024] [--repeat 3] [--keep]

With --single-line the log is one line of tqdm `\r` redraws with the failure at its very end (no newline at all):
the same ratio against `grep -c -E` on that file, and the peak memory of `diagnose` and of `runs watch --once`
on it (target <= 100 MB each, whatever the size: try --size-mb 2048).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "helpers"))

from expkit.monitor import rules  # noqa: E402

FAILURE = (ROOT / "tests" / "logs" / "cuda_oom_torch2.log").read_bytes()


def healthy_block(seed: int, size: int = 1 << 20) -> bytes:
    """About `size` bytes of a healthy training log: tqdm redraws on \\r lines, step lines, HF dicts."""
    rnd = random.Random(seed)
    out, n, step = [], 0, seed * 10000
    while n < size:
        step += 1
        kind = step % 3
        if kind == 0:
            bar = "\r".join(f"Epoch {step // 1000}:  {p}%|{'#' * (p // 10):<10}| {p}/100 [00:{p % 60:02d}<01:40, "
                            f"{rnd.uniform(5, 10):.2f}it/s, loss={rnd.uniform(0.1, 2):.4f}, v_num=1]"
                            for p in range(0, 100, 25))
            line = bar + "\n"
        elif kind == 1:
            line = (f"2026-11-22 01:23:45,123 - INFO - train - step={step} loss={rnd.random():.4f} lr=3.0e-04 "
                    f"grad_norm={rnd.random() * 3:.3f} tokens/s={rnd.randint(10000, 20000)}\n")
        else:
            line = f"{{'loss': {rnd.random():.4f}, 'learning_rate': 4.5e-05, 'epoch': {step / 1e4:.2f}}}\n"
        out.append(line)
        n += len(line)
    return "".join(out).encode()


def make_log(path: Path, size_mb: int) -> None:
    blocks = [healthy_block(i) for i in range(8)]
    with open(path, "wb") as fh:
        for i in range(size_mb - 1):
            fh.write(blocks[i % len(blocks)])
        fh.write(blocks[0][: (1 << 20) - len(FAILURE) - 100])
        fh.write(b"\n" + FAILURE)


def make_single_line_log(path: Path, size_mb: int) -> None:
    """One line without a newline: tqdm redraws joined by \\r, the CUDA OOM message after the last one."""
    bar = "".join(f"\r{p % 100:3d}%|{'#' * (p % 100 // 10):<10}| {p}/100000 [01:{p % 60:02d}<02:00, 9.{p % 10}it/s, "
                  f"loss={(p % 997) / 1000:.4f}]" for p in range(20000)).encode()
    with open(path, "wb") as fh:
        for _ in range(max(1, (size_mb << 20) // len(bar))):
            fh.write(bar)
        fh.write(b"\r" + FAILURE.replace(b"\n", b" "))


WATCH_CHILD = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
from expkit.cli import main
main(["runs", "watch", sys.argv[2], "--once", "--json"])
"""


def watch_peak(log: Path) -> float:
    """Peak RSS (MB) of `expkit runs watch --once` on a finished run whose stdout.log is `log` (hard-linked)."""
    run_dir = log.parent / "runs" / "single_20261201-000000"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "manifest.json").write_text(json.dumps({"run_id": run_dir.name, "command": {"argv": ["x"]}}))
    (run_dir / "status.json").write_text(json.dumps({"state": "failed", "exit_code": 1,
                                                     "started_at": "2026-12-01T00:00:00Z",
                                                     "ended_at": "2026-12-01T01:00:00Z"}))
    if not (run_dir / "stdout.log").exists():
        os.link(log, run_dir / "stdout.log")
    code = ("import resource, subprocess, sys\n"
            "subprocess.run([sys.executable, '-c', sys.argv[1], sys.argv[2], sys.argv[3]], stdout=subprocess.DEVNULL)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, WATCH_CHILD, str(ROOT / "helpers"), str(run_dir)],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def compare_full_scans(log: Path, repeat: int) -> None:
    """diagnose's full scan against `grep -c -E` of the same patterns, interleaved so machine noise hits both."""
    ratios, greps, fulls = [], [], []
    for _ in range(repeat):
        g = time_grep(log)
        f = run_child(log, "full")
        assert f["cause"] == "cuda_oom", f
        greps.append(g)
        fulls.append(f["seconds"])
        ratios.append(f["seconds"] / g)
    print(f"full scan:  diagnose {statistics.median(fulls):.3f}s (engine {f['engine']})  vs  "
          f"grep -c -E {statistics.median(greps):.3f}s  ->  ratio {statistics.median(ratios):.2f}x (target <= 1.5)")


def single_line(args) -> None:
    folder = Path(tempfile.mkdtemp(prefix="expkit-bench-"))
    log = folder / "single.log"
    t = time.perf_counter()
    make_single_line_log(log, args.size_mb)
    print(f"generated a {log.stat().st_size / 2**20:.0f} MiB log of ONE line in {time.perf_counter() - t:.1f}s")
    subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL)
    compare_full_scans(log, args.repeat)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # includes grep -c's own peak
    dpeak = diagnose_peak(log)
    print(f"peak memory: diagnose {dpeak:.1f} MB (its grep included), runs watch --once {watch_peak(log):.1f} MB "
          f"(target <= 100); for scale, grep -c -E alone peaked at {peak:.0f} MB on this file")
    if args.keep:
        print(f"kept {log}")
    else:
        import shutil

        shutil.rmtree(folder)


def diagnose_peak(log: Path) -> float:
    """Peak RSS (MB) of a process that diagnoses `log` in full, and of every process it starts (grep)."""
    code = ("import resource, subprocess, sys\n"
            "subprocess.run([sys.executable, '-c', sys.argv[1], sys.argv[2], sys.argv[3], 'full'], "
            "stdout=subprocess.DEVNULL, check=True)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, CHILD, str(ROOT / "helpers"), str(log)], capture_output=True,
                         text=True, check=True)
    return int(out.stdout.strip()) / 1024


def time_grep(path: Path) -> float:
    t = time.perf_counter()
    subprocess.run(["grep", "-c", "-E", "-e", rules.combined_pattern(), str(path)], env=dict(os.environ, LC_ALL="C"),
                   stdout=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t


CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from expkit.monitor.diagnose import diagnose
t = time.perf_counter()
r = diagnose(sys.argv[2], full=sys.argv[3] == "full")
print(json.dumps({"seconds": time.perf_counter() - t, "cause": r["cause"]["category"], "mode": r["scan"]["mode"],
                  "engine": r["scan"]["engine"]}))
"""


def run_child(path: Path, mode: str) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT / "helpers"), str(path), mode], capture_output=True,
                         text=True, check=True)
    res = json.loads(out.stdout)
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # max over children so far
    res["_before"] = before
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the generated log")
    ap.add_argument("--single-line", action="store_true", help="a log of one tqdm line without a newline")
    args = ap.parse_args()
    if args.single_line:
        single_line(args)
        return
    folder = Path(tempfile.mkdtemp(prefix="expkit-bench-"))
    log = folder / "train.log"
    t = time.perf_counter()
    make_log(log, args.size_mb)
    size = log.stat().st_size
    print(f"generated {size / 2**20:.0f} MiB log in {time.perf_counter() - t:.1f}s ({log})")
    subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL)  # same page-cache state for both tools

    compare_full_scans(log, args.repeat)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak memory: {peak:.1f} MB max RSS of the largest child process (the diagnosing Python process; "
          f"its grep is a separate, smaller process) (target <= 100)")

    sys.path.insert(0, str(ROOT / "helpers"))
    from expkit.monitor.diagnose import diagnose

    tails = []
    for _ in range(max(3, args.repeat)):
        t = time.perf_counter()
        r = diagnose(log)
        tails.append(time.perf_counter() - t)
        assert r["scan"]["mode"] == "tail" and r["cause"]["category"] == "cuda_oom", r["scan"]
    last_mb = []
    for _ in range(max(3, args.repeat)):
        t = time.perf_counter()
        subprocess.run(f"tail -c 1048576 {log} | LC_ALL=C grep -c -E -e \"$P\"", shell=True,
                       env=dict(os.environ, P=rules.combined_pattern()), stdout=subprocess.DEVNULL)
        last_mb.append(time.perf_counter() - t)
    print(f"tail-first: diagnose {statistics.median(tails) * 1000:.1f} ms with the failure in the last MB "
          f"(target <= 100 ms; for scale, `tail -c 1M | grep -c -E` takes {statistics.median(last_mb) * 1000:.1f} ms)")
    if args.keep:
        print(f"kept {log}")
    else:
        log.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
