"""What scrubbing secrets from stdout.log costs: the same chatty run with and without a secret to scrub.

Without a secret the command writes stdout.log itself; with one, its output goes through a pump process, which
replaces the secret's exact value with *** as it writes. Prints, side by side in one process:
  - wall time of a run printing --size-mb of log lines, scrubbed / direct          (the cost of scrubbing)
  - that the scrubbed log holds no copy of the secret, and how many were masked

    python benchmarks/bench_log_scrub.py [--size-mb 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "helpers"))

from expkit.runs.control import wait  # noqa: E402
from expkit.runs.launch import LaunchRequest, launch  # noqa: E402

SECRET = "bench-Secret-Value-0042"
SCRIPT = """
import os, sys
secret = os.environ.get("BENCH_API_KEY", "no-secret-here")
line = ("step={} loss=0.1234 lr=3e-4 tokens/s=12345 " + "x" * 40 + "\\n")
out = sys.stdout
target = int(sys.argv[1]) << 20
n = i = 0
while n < target:
    text = line.format(i) if i % 1000 else "leaked " + secret + "\\n"
    out.write(text)
    n += len(text)
    i += 1
"""


def one(repo: Path, size_mb: int, secret: bool) -> tuple[float, Path]:
    env = {"BENCH_API_KEY": SECRET} if secret else {}
    old = {k: os.environ.pop(k) for k in list(os.environ) if "KEY" in k or "TOKEN" in k or "SECRET" in k}
    try:
        t = time.perf_counter()
        result = launch(LaunchRequest(argv=[sys.executable, "chatty.py", str(size_mb)], cwd=repo, env=env,
                                      runs_dir=repo / "runs", seed=0))
        st = wait(result.run)
        took = time.perf_counter() - t
    finally:
        os.environ.update(old)
    assert st["state"] == "succeeded", st
    return took, result.run.log_path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="expkit-bench-") as tmp:
        repo = Path(tmp) / "project"
        repo.mkdir()
        (repo / "chatty.py").write_text(SCRIPT)
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        direct, scrubbed = [], []
        for _ in range(args.repeat):  # interleaved, so machine noise hits both sides alike
            t, _log = one(repo, args.size_mb, secret=False)
            direct.append(t)
            t, log = one(repo, args.size_mb, secret=True)
            scrubbed.append(t)
            data = log.read_bytes()
            assert SECRET.encode() not in data
            masked = data.count(b"leaked ***")
        d, s = statistics.median(direct), statistics.median(scrubbed)
        print(f"a run printing {args.size_mb} MiB: direct to stdout.log {d:.2f}s, through the scrubbing pump "
              f"{s:.2f}s  ->  ratio {s / d:.2f}x")
        print(f"scrubbed log: 0 copies of the secret, {masked} lines masked")


if __name__ == "__main__":
    main()
