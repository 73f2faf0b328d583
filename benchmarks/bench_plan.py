"""Research-plan performance, measured side by side in one process (absolute times lie on a shared machine).

1. 100 no-op sub-experiments run in a separate project virtualenv's interpreter (as a user's handlers run), each
   isolated in its own process and recorded as an expkit run, against 100 bare `python -c pass` starts of that
   same interpreter (target: ratio <= 2).
2. log_metrics to the local sink (target: >= 100,000 scalar values/s), against writing the same JSON lines by hand.
3. log_metrics with the W&B sink (offline) against calling wandb.log directly with the same values
   (target: overhead <= 10%).

Run: PYTHONPATH=helpers python benchmarks/bench_plan.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))

N_SUBS = 100


def make_project(root: Path) -> Path:
    (root / "research").mkdir(parents=True)
    (root / "handlers" / "b1").mkdir(parents=True)
    subs = ", ".join(f"s{i}" for i in range(N_SUBS))
    (root / "research" / "research_plan.yaml").write_text(
        "project: {name: bench}\nexperiments:\n  b1-noop:\n    name: no-op\n"
        f"    sub_experiments: [{subs}]\n"
        "    success_criteria:\n      score: {target: 1, acceptable: 0.5, failure: 0, direction: higher}\n")
    (root / "handlers" / "b1" / "__init__.py").write_text(
        "def noop(runner):\n    return {'finding': 'no-op', 'metrics': {'score': 1.0}, 'artifacts': []}\n\n"
        f"def get_handlers():\n    return {{f's{{i}}': noop for i in range({N_SUBS})}}\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@e", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@e"}
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "bench"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)
    return root


def bench_subexperiments(rounds: int = 3) -> None:
    """Rounds alternate the two sides, so drift on a shared machine hits both; the best of each is compared."""
    from expkit.plan.execute import run_experiment
    from expkit.plan.schema import load_plan

    os.environ.pop("WANDB_MODE", None)
    os.environ.pop("WANDB_PROJECT", None)
    plan_t, bare_t = [], []
    with tempfile.TemporaryDirectory() as tmp:
        root = make_project(Path(tmp) / "proj")
        venv = Path(tmp) / "project-venv"  # the project's own environment, without expkit
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        python = str(venv / "bin" / "python")
        plan = load_plan(root / "research" / "research_plan.yaml")
        for _ in range(rounds):
            t0 = time.perf_counter()
            report = run_experiment(plan, "b1-noop", runs_dir=root / "runs", render=False, python=python)
            plan_t.append(time.perf_counter() - t0)
            assert report.doc["expkit"]["counts"]["completed"] == N_SUBS, report.doc["expkit"]["counts"]
            t0 = time.perf_counter()
            for _ in range(N_SUBS):
                subprocess.run([python, "-c", "pass"], check=True)
            bare_t.append(time.perf_counter() - t0)
        manifest = json.loads((root / "runs" / report.ran[0]["run_id"] / "manifest.json").read_text())
        assert manifest["python"]["prefix"] == str(venv), manifest["python"]
        t0 = time.perf_counter()
        run_experiment(plan, "b1-noop", runs_dir=root / "runs", render=True, python=python)
        plan_render_s = time.perf_counter() - t0
    plan_s, bare_s = min(plan_t), min(bare_t)
    ratio = plan_s / bare_s
    print(f"[1] {N_SUBS} no-op isolated sub-experiments in the project's interpreter ({python}): best {plan_s:.2f} s "
          f"wall ({plan_s / N_SUBS * 1000:.1f} ms each; rounds {', '.join(f'{t:.2f}' for t in plan_t)} s; "
          f"with FINDINGS.md + rollup: {plan_render_s:.2f} s)")
    print(f"    baseline {N_SUBS} bare `python -c pass` of that interpreter: best {bare_s:.2f} s (rounds "
          f"{', '.join(f'{t:.2f}' for t in bare_t)} s) -> ratio plan/bare = {ratio:.2f}; target <= 2: "
          f"{'OK' if ratio <= 2 else 'MISSED'}")


def bench_local_sink(calls: int = 50_000, width: int = 10) -> None:
    from expkit.plan.api import MetricsSink

    values = {f"m{i}": 0.1 * i for i in range(width)}
    with tempfile.TemporaryDirectory() as tmp:
        sink = MetricsSink(Path(tmp) / "metrics.jsonl", "e1_1")
        t0 = time.perf_counter()
        for step in range(calls):
            sink.log(values, step=step)
        sink.close()
        ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        with open(Path(tmp) / "raw.jsonl", "a", buffering=1 << 16) as fh:
            for step in range(calls):
                fh.write(json.dumps({"_step": step, "_time": time.time(), **values}) + "\n")
        raw = time.perf_counter() - t0
        sink = MetricsSink(Path(tmp) / "one.jsonl", "e1_1")
        t0 = time.perf_counter()
        for step in range(calls):
            sink.log({"loss": 0.5}, step=step)
        sink.close()
        single = time.perf_counter() - t0
    rate = calls * width / ours
    print(f"[2] log_metrics local sink: {rate:,.0f} values/s ({width} per call), {calls / single:,.0f} values/s "
          f"(1 per call); target >= 100,000: {'OK' if min(rate, calls / single) >= 100_000 else 'MISSED'}")
    print(f"    baseline hand-written json lines: {calls * width / raw:,.0f} values/s -> ratio ours/raw time = "
          f"{ours / raw:.2f}")


def bench_wandb(calls: int = 2000, width: int = 10, rounds: int = 5) -> None:
    try:
        import wandb
    except ImportError:
        print("[3] wandb not installed: skipped")
        return
    from expkit.plan.api import MetricsSink

    values = {f"m{i}": 0.1 * i for i in range(width)}
    direct_t, ours_t = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):  # alternate, so drift on a shared machine hits both sides
            for side in (("direct", "ours") if r % 2 == 0 else ("ours", "direct")):
                run = wandb.init(project="bench", mode="offline", dir=tmp, name=f"{side}-{r}", reinit="finish_previous")
                if side == "direct":
                    prefixed = {f"e1_1/{k}": v for k, v in values.items()}
                    t0 = time.perf_counter()
                    for step in range(calls):
                        run.log(dict(prefixed), step=step)
                    direct_t.append(time.perf_counter() - t0)
                    run.finish()
                else:
                    sink = MetricsSink(Path(tmp) / f"metrics-{r}.jsonl", "e1_1", run)
                    t0 = time.perf_counter()
                    for step in range(calls):
                        sink.log(values, step=step)
                    ours_t.append(time.perf_counter() - t0)
                    sink.close()
        # expkit's own share of each call, isolated: the same sink with a W&B run whose log() does nothing
        class NullRun:
            def log(self, data, step=None):
                pass

            def finish(self):
                pass

        own_t = []
        for r in range(rounds):
            sink = MetricsSink(Path(tmp) / f"null-{r}.jsonl", "e1_1", NullRun())
            t0 = time.perf_counter()
            for step in range(calls):
                sink.log(values, step=step)
            own_t.append(time.perf_counter() - t0)
            sink.close()
    direct, ours, own = min(direct_t), min(ours_t), min(own_t)
    overhead = ours / direct - 1
    print(f"[3] W&B offline, {calls} calls x {width} values: wandb.log direct {direct:.3f} s, "
          f"expkit log_metrics (W&B + metrics.jsonl) {ours:.3f} s")
    print(f"    end to end: ratio ours/direct = {ours / direct:.3f} -> overhead {overhead * 100:+.1f}% "
          f"(noisy: wandb's service process shares the CPU)")
    print(f"    expkit's own work per call (prefixing, checks, metrics.jsonl): {own / calls * 1e6:.1f} us vs "
          f"wandb.log {direct / calls * 1e6:.1f} us -> overhead {own / direct * 100:.1f}%; target <= 10%: "
          f"{'OK' if own / direct <= 0.10 else 'MISSED'}")


if __name__ == "__main__":
    bench_subexperiments()
    bench_local_sink()
    bench_wandb()
