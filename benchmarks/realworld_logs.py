"""Scoreboard: what `runs watch` / `runs metrics` read from 15 real training-log formats.

Corpus: tests/realworld/logs/ (SOURCES.tsv: what produced each log; answers.json: step, total, epoch, training
loss, evaluation series, speed and whether it shows an ETA, written by reading each log). Each log is read by
the progress parser the CLI uses (monitor.progress.records_from_text + summarize); the baseline is the same
parser as it is on the main branch (git show main:...), so the ratio says what this branch adds.

Checks per log: step, total, epoch, the training loss (the last value of the training series, never a
validation or summary value), each evaluation series kept apart with its last value, the speed (within 5%),
and an ETA where the log shows one.

Usage: python benchmarks/realworld_logs.py [--verbose] [--baseline-ref main]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "helpers"))
CORPUS = ROOT / "tests" / "realworld" / "logs"


def _close(a, b, rel=0.05) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= max(1e-6, rel * abs(float(b)))


def _name(key: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")


def check(summary: dict, key: dict) -> dict[str, bool]:
    """One boolean per fact of the answer key."""
    out = {"step": summary.get("step") == key["step"], "total": summary.get("total") == key["total"],
           "epoch": _close(summary.get("epoch"), key["epoch"], 0.0),
           "loss": _close(summary.get("loss"), key["loss"], 0.01),
           "rate": _close(summary.get("rate"), key["rate"], 0.05)}
    got = {_name(k): v for k, v in (summary.get("eval") or {}).items()}
    for name, value in key["eval"].items():
        out[f"eval:{name}"] = _close(got.get(_name(name)), value, 0.01)
    if not key["eval"]:
        out["no eval series invented"] = not got
    if key["eta"]:
        out["eta"] = summary.get("eta_s") is not None
    return out


def score(progress, verbose: bool = False) -> dict:
    answers = json.loads((CORPUS / "answers.json").read_text())
    checks = passed = full = 0
    rows = []
    for name, key in answers.items():
        records = progress.records_from_text((CORPUS / name).read_bytes())
        summary = progress.summarize(records)
        result = check(summary, key)
        checks += len(result)
        passed += sum(result.values())
        full += all(result.values())
        rows.append((name, result, summary))
        if verbose:
            bad = [k for k, ok in result.items() if not ok]
            print(f"{'ok  ' if not bad else 'MISS'} {name:26s} {sum(result.values())}/{len(result)}"
                  + (f"  wrong: {', '.join(bad)}" if bad else ""))
            if bad:
                shown = {k: summary.get(k) for k in ("step", "total", "epoch", "loss", "rate", "eta_s", "eval")}
                print(f"       got {shown}")
    return {"logs": len(answers), "checks": checks, "passed": passed, "full": full, "rows": rows}


def baseline_module(ref: str):
    """monitor/progress.py as it is at `ref`, imported under another name."""
    text = subprocess.run(["git", "show", f"{ref}:helpers/expkit/monitor/progress.py"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "progress_baseline.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("progress_baseline", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--baseline-ref", default="main")
    args = ap.parse_args()
    from expkit.monitor import progress

    now = score(progress, args.verbose)
    base = score(baseline_module(args.baseline_ref))
    print(f"facts read right: {now['passed']}/{now['checks']} = {now['passed'] / now['checks']:.0%}; "
          f"logs read entirely right: {now['full']}/{now['logs']}")
    print(f"baseline ({args.baseline_ref}): {base['passed']}/{base['checks']} = {base['passed'] / base['checks']:.0%}, "
          f"{base['full']}/{base['logs']} logs; ratio {now['passed'] / max(base['passed'], 1):.2f}x")
    return 0 if now["full"] == now["logs"] else 1


if __name__ == "__main__":
    sys.exit(main())
