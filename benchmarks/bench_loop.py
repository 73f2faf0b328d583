"""`expkit loop`'s keep rule against the naive single-run "keep if better", side by side, and the loop's overhead.

1. Rule. A synthetic task whose metric is a known function plus seeded Gaussian noise of sd sigma: the true metric
   of a candidate is that of the current best (a null change) or 2 sigma better (a real improvement). Each
   replication is one loop of 400 trials, 200 null and 200 improving, in a shuffled order, every kept change
   becoming the new best. Noise is drawn fresh for every run, also for the best's: the worst case for expkit, whose
   trials in practice share the loop's seeds and so share part of the noise.
     - expkit: as `expkit loop` does it: the baseline with 2K seeds, each trial with K = 3, loop.stats.decide
       (one-sided t-test, seed sd pooled over the loop's runs, alpha 0.05, min-delta 0), and a kept trial measured
       again with K reference seeds so the new best is known from 2K runs
     - naive: one run per trial, keep if its value beats the best's single run
     - for reference, a Welch t-test on the two sets of K = 3 seeds alone (no pooling)
   Targets: false keeps (null changes kept) <= 5% for expkit; true keeps at 2 sigma >= 75%.

2. Overhead. A real loop (`expkit loop init` + 10 x `expkit loop try`, through the CLI) on a trivial script,
   K = 3 CPU slots: per trial, the wall time of `loop try` minus the time its runs themselves took (first start to
   last end of each batch of K, from their status.json; a keep has two batches), against the same 3 processes
   started directly with Popen. expkit runs with bytecode caching on, as in its installed venv.
   Target: <= 1 s per trial beyond its runs.

Usage: python benchmarks/bench_loop.py [--replications 20] [--trials 10]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "helpers"))

from expkit.loop import stats  # noqa: E402

SIGMA = 1.0
K = 3
ALPHA = 0.05


def welch_keep(best: list[float], trial: list[float]) -> bool:
    """Welch's one-sided t-test on the two groups alone (lower is better)."""
    va, vb = stats.sd(best) ** 2 / len(best), stats.sd(trial) ** 2 / len(trial)
    se = math.sqrt(va + vb)
    delta = stats.mean(best) - stats.mean(trial)
    if se == 0:
        return delta > 0
    df = (va + vb) ** 2 / (va ** 2 / (len(best) - 1) + vb ** 2 / (len(trial) - 1))
    return stats.t_sf(delta / se, df) < ALPHA


def one_loop(rng: random.Random, n_null: int, n_real: int, adopt: bool = True) -> dict[str, dict[str, int]]:
    """One shuffled loop per rule; returns {rule: {false_keeps, true_keeps}} (lower metric is better).

    adopt=False never replaces the best: every decision is against an unbiased measurement of the baseline (no
    winner's curse), the setting of a single comparison."""
    kinds = ["null"] * n_null + ["real"] * n_real
    rng.shuffle(kinds)
    out = {}
    for rule in ("expkit", "naive", "welch"):
        k = 1 if rule == "naive" else K
        true_best = 10.0  # the known function's value at the current best commit
        draw = lambda mu: [mu + rng.gauss(0, SIGMA) for _ in range(k)]  # noqa: E731
        best = draw(true_best) + (draw(true_best) if rule == "expkit" else [])
        groups: list[list[float]] = []  # every finished group but the best's, for the pooled sd
        fk = tk = 0
        for kind in kinds:
            mu = true_best if kind == "null" else true_best - 2 * SIGMA
            trial = draw(mu)
            if rule == "naive":
                keep = trial[0] < best[0]
            elif rule == "welch":
                keep = welch_keep(best, trial)
            else:
                keep = stats.decide(best, trial, "min", noise_groups=groups, alpha=ALPHA).keep
            if keep:
                fk += kind == "null"
                tk += kind == "real"
            if keep and not adopt:
                groups.append(trial)
            elif keep:
                groups.append(best)
                best, true_best = trial + (draw(mu) if rule == "expkit" else []), mu
            else:
                groups.append(trial)
        out[rule] = {"false_keeps": fk, "true_keeps": tk}
    return out


def rule_benchmark(replications: int, seed: int, adopt: bool = True) -> dict:
    rng = random.Random(seed)
    n = 200
    totals = {r: {"false_keeps": 0, "true_keeps": 0} for r in ("expkit", "naive", "welch")}
    per_rep = {r: [] for r in totals}
    for _ in range(replications):
        res = one_loop(rng, n, n, adopt)
        for r, v in res.items():
            totals[r]["false_keeps"] += v["false_keeps"]
            totals[r]["true_keeps"] += v["true_keeps"]
            per_rep[r].append(v["false_keeps"] / n)
    trials = n * replications
    out = {}
    for r, v in totals.items():
        fk, tk = v["false_keeps"] / trials, v["true_keeps"] / trials
        out[r] = {"false_keep_rate": fk, "false_keep_ci95": _wilson(v["false_keeps"], trials),
                  "true_keep_rate": tk, "true_keep_ci95": _wilson(v["true_keeps"], trials),
                  "worst_replication_false_keep_rate": max(per_rep[r])}
    return out


def _wilson(k: int, n: int) -> list[float]:
    z, p = 1.96, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(centre - half, 4), round(centre + half, 4)]


# overhead ---------------------------------------------------------------------------------------------------------
TRIVIAL = """\
import os, random
SHIFT = 0.0
print(f"score: {1.0 + SHIFT + random.Random(int(os.environ['EXPKIT_SEED'])).gauss(0, 0.1):.6f}")
"""


def _env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT / "helpers")
    e.pop("EXPKIT_RUNS_DIR", None)
    e.pop("PYTHONDONTWRITEBYTECODE", None)
    e.setdefault("GIT_AUTHOR_NAME", "bench")
    e.setdefault("GIT_AUTHOR_EMAIL", "bench@example.com")
    e.setdefault("GIT_COMMITTER_NAME", "bench")
    e.setdefault("GIT_COMMITTER_EMAIL", "bench@example.com")
    return e


def _expkit(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "expkit", *args], cwd=cwd, env=_env(), capture_output=True, text=True)


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def overhead_benchmark(n_trials: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as tmp:
        repo = Path(tmp) / "project"
        repo.mkdir()
        (repo / "train.py").write_text(TRIVIAL)
        for cmd in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "init"]):
            subprocess.run(["git", *cmd], cwd=repo, env=_env(), check=True, capture_output=True)
        r = _expkit(["loop", "init", "bench", "--metric", "score", "--goal", "min", "--seeds", str(K), "--gpus",
                     "none", "--budget", "60s", "--json", "--", sys.executable, "train.py"], repo)
        assert r.returncode == 0, r.stderr
        walls, spans, overheads, decisions = [], [], [], []
        for i in range(n_trials):
            text = (repo / "train.py").read_text()
            if i % 2 == 0:  # alternately a null change (discard + reset) and a real one (keep)
                (repo / "train.py").write_text(text + f"# note {i}\n")
            else:
                (repo / "train.py").write_text(text.replace("SHIFT = ", f"SHIFT = -0.5 + "))
            t0 = time.perf_counter()
            r = _expkit(["loop", "try", "bench", "-m", f"change {i}", "--json"], repo)
            wall = time.perf_counter() - t0
            assert r.returncode == 0, r.stderr
            out = json.loads(r.stdout)
            decisions.append(out["decision"])
            span = 0.0
            for batch in (out["run_ids"][:K], out["run_ids"][K:]):
                sts = [json.loads((repo / "runs" / rid / "status.json").read_text()) for rid in batch]
                if sts:
                    span += max(_ts(s["ended_at"]) for s in sts) - min(_ts(s["started_at"]) for s in sts)
            walls.append(wall)
            spans.append(span)
            overheads.append(wall - span)
        direct = []
        for _ in range(n_trials):  # the same K processes, started directly in parallel
            t0 = time.perf_counter()
            procs = [subprocess.Popen([sys.executable, "train.py"], cwd=repo, stdout=subprocess.DEVNULL,
                                      env={**_env(), "EXPKIT_SEED": str(s)}) for s in range(K)]
            for p in procs:
                p.wait()
            direct.append(time.perf_counter() - t0)
    return {"trials": n_trials, "decisions": decisions,
            "try_wall_s_median": statistics.median(walls), "runs_span_s_median": statistics.median(spans),
            "overhead_s_median": statistics.median(overheads), "overhead_s_max": max(overheads),
            "direct_popen_s_median": statistics.median(direct)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replications", type=int, default=20, help="Loops of 400 trials per rule.")
    ap.add_argument("--trials", type=int, default=10, help="Real `loop try` calls for the overhead.")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rules = rule_benchmark(args.replications, args.seed)
    single = rule_benchmark(args.replications, args.seed + 1, adopt=False)
    over = overhead_benchmark(args.trials) if args.trials else None
    if args.json:
        print(json.dumps({"rules": rules, "single_decision": single, "overhead": over}, indent=2))
        return
    n = 200 * args.replications
    print(f"keep rule, {args.replications} loops x (200 null + 200 improving by 2 sigma), fresh noise per run")
    print(f"{'rule':<34}{'false keeps':>14}{'95% CI':>18}{'true keeps @2σ':>17}{'95% CI':>18}")
    labels = {"expkit": f"expkit loop (K={K}, pooled t-test)", "naive": "naive (1 run, keep if better)",
              "welch": f"Welch on K={K} alone (reference)"}
    for r in ("expkit", "naive", "welch"):
        v = rules[r]
        print(f"{labels[r]:<34}{v['false_keep_rate']:>13.1%} {_ci(v['false_keep_ci95']):>17}"
              f"{v['true_keep_rate']:>16.1%} {_ci(v['true_keep_ci95']):>17}")
    print("one decision against an unbiased measurement of the best (kept changes never adopted):")
    for r in ("expkit", "naive"):
        v = single[r]
        print(f"  {labels[r]:<34}false keeps {v['false_keep_rate']:>6.1%}   true keeps {v['true_keep_rate']:>6.1%}")
    e, nv = rules["expkit"], rules["naive"]
    print(f"false keeps: expkit {e['false_keep_rate']:.1%} vs naive {nv['false_keep_rate']:.1%} "
          f"({nv['false_keep_rate'] / max(e['false_keep_rate'], 1 / n):.1f}x fewer); target <= 5%: "
          f"{'PASS' if e['false_keep_rate'] <= 0.05 else 'FAIL'}")
    print(f"true keeps at 2 sigma: expkit {e['true_keep_rate']:.1%}; target >= 75%: "
          f"{'PASS' if e['true_keep_rate'] >= 0.75 else 'FAIL'}")
    if over:
        print(f"\noverhead, {over['trials']} real `expkit loop try` of a trivial script, K={K} CPU slots "
              f"({over['decisions'].count('keep')} keeps, {over['decisions'].count('discard')} discards)")
        print(f"  loop try wall (median)           {over['try_wall_s_median']:.3f} s")
        print(f"  its runs, first start..last end  {over['runs_span_s_median']:.3f} s")
        print(f"  the same {K} processes via Popen  {over['direct_popen_s_median']:.3f} s")
        print(f"  overhead beyond the runs         {over['overhead_s_median']:.3f} s median, "
              f"{over['overhead_s_max']:.3f} s max; target <= 1 s: "
              f"{'PASS' if over['overhead_s_max'] <= 1.0 else 'FAIL'}")


def _ci(ci: list[float]) -> str:
    return f"{ci[0]:.1%}..{ci[1]:.1%}"


if __name__ == "__main__":
    main()
