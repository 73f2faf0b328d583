"""CLI start-up cost against `python -c "import click"`, measured side by side in one process.

Targets (issue: foundation): `expkit --help` and `expkit runs list --json` with 100 runs present each take
<= 1.5x the wall time of `python -c "import click"`; `expkit launch` returns with a live PID in <= 0.5 s inside a
git repository of 5,000 files with a dirty tree.

Usage: python benchmarks/bench_cli.py [--rounds 15]
The expkit command measured is the installed console script next to this interpreter when there is one
(what bin/expkit execs), else `python -m expkit`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def expkit_cmd() -> list[str]:
    script = Path(sys.executable).parent / "expkit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "expkit"]


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT / "helpers")
    e.pop("EXPKIT_RUNS_DIR", None)
    return e


def timed(cmd, cwd=None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t


def interleaved(cmds: dict[str, list[str]], rounds: int, cwd=None) -> dict[str, float]:
    """Median wall time of each command, the commands alternating round by round (fair on a noisy machine)."""
    samples = {k: [] for k in cmds}
    for name, cmd in cmds.items():  # warm the page cache
        timed(cmd, cwd)
    for _ in range(rounds):
        for name, cmd in cmds.items():
            samples[name].append(timed(cmd, cwd))
    return {k: statistics.median(v) for k, v in samples.items()}


def make_runs(runs_dir: Path, n: int, repo: Path) -> None:
    sys.path.insert(0, str(ROOT / "helpers"))
    from expkit.runs.launch import LaunchRequest, capture_context, prepare

    ctx = capture_context(["true"], dict(os.environ), repo, runs_dir)
    for i in range(n):
        run, _, _ = prepare(LaunchRequest(argv=["python", "train.py", f"--lr={i}"], cwd=repo, runs_dir=runs_dir,
                                          name=f"run{i}"), context=ctx)
        st = run.raw_status()
        st.update(state="succeeded" if i % 3 else "failed", started_at=st["created_at"], ended_at=st["created_at"],
                  exit_code=0 if i % 3 else 1)
        run.write_status(st)


def make_big_dirty_repo(repo: Path, n_files: int) -> None:
    repo.mkdir()
    for i in range(n_files):
        d = repo / f"pkg{i // 100}"
        d.mkdir(exist_ok=True)
        (d / f"mod{i}.py").write_text(f"X = {i}\n" * 20)
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@b"]
    subprocess.run(git + ["init", "-q"], cwd=repo, check=True)
    subprocess.run(git + ["add", "."], cwd=repo, check=True)
    subprocess.run(git + ["commit", "-qm", "big"], cwd=repo, check=True)
    for i in range(0, n_files, 500):  # dirty: 10 modified files, 5 untracked
        (repo / f"pkg{i // 100}" / f"mod{i}.py").write_text("X = 'changed'\n")
    for i in range(5):
        (repo / f"new{i}.py").write_text("print('new')\n")
    (repo / "sleep.py").write_text("import time; time.sleep(30)\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    exp = expkit_cmd()
    # byte-compiled like an install (bin/expkit does this once); click's own .pyc came with pip
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "helpers")], check=True)
    baseline = [sys.executable, "-c", "import click"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        repo = tmp / "repo"
        make_big_dirty_repo(repo, 5000)
        make_runs(repo / "runs", 100, repo)
        t = interleaved({"import click": baseline, "expkit --help": exp + ["--help"],
                         "expkit runs list --json (100 runs)": exp + ["runs", "list", "--json"]}, args.rounds, repo)
        base = t["import click"]
        print(f"baseline python -c 'import click': {base * 1000:.1f} ms (median of {args.rounds})")
        for name in ("expkit --help", "expkit runs list --json (100 runs)"):
            ratio = t[name] / base
            print(f"{name}: {t[name] * 1000:.1f} ms, ratio {ratio:.2f}x (target <= 1.5x) "
                  f"{'PASS' if ratio <= 1.5 else 'FAIL'}")

        # launch latency: until the JSON with a live pid is printed
        lat = []
        for _ in range(max(5, args.rounds // 2)):
            t0 = time.perf_counter()
            out = subprocess.run(exp + ["launch", "--json", "--", sys.executable, "sleep.py"], cwd=repo, env=env(),
                                 capture_output=True, text=True, check=True)
            lat.append(time.perf_counter() - t0)
            info = json.loads(out.stdout)
            assert os.path.exists(f"/proc/{info['pid']}"), "pid not alive"
            subprocess.run(exp + ["runs", "stop", info["run_id"], "--grace", "1"], cwd=repo, env=env(),
                           capture_output=True)
        med = statistics.median(lat)
        print(f"expkit launch in a 5,000-file dirty repo: {med * 1000:.0f} ms to a live pid (median of {len(lat)}), "
              f"ratio to the 0.5 s budget {med / 0.5:.2f} {'PASS' if med <= 0.5 else 'FAIL'}")


if __name__ == "__main__":
    main()
