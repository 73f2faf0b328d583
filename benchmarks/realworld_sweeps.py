"""Scoreboard: expkit against real public W&B sweep configs (tests/realworld/sweeps/, answer key in ANSWERS.yaml).

Each config is loaded as `expkit sweep run` loads it, dry-run as `--dry-run` plans it, and judged against its
answer key (written by reading the config, before expkit ran on it):

    accepted  expkit took it, every sampled value is inside the key's bounds and types, and the parameters reach
              the command the way W&B's agent would pass them
    refused   expkit refused it, with the refusal the key names (e.g. a bayes sweep without run_cap, no program)
    wrong     anything else: a refusal the key does not expect, a value out of bounds, a parameter missing

    python benchmarks/realworld_sweeps.py [-v] [--oracle PYTHON]

--oracle PYTHON: an interpreter with W&B's own local sweep engine (PyPI `sweeps`; it needs numpy<2, so it lives in
its own venv: `python -m venv /tmp/oracle && /tmp/oracle/bin/pip install sweeps`). Each W&B config (read with the
same YAML 1.2 loader) goes through W&B's schema check and W&B's own sampler, and W&B's samples are judged against
the same answer key: a check of the answer keys, independent of expkit.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "realworld" / "sweeps"
sys.path.insert(0, str(ROOT / "helpers"))

from expkit.errors import ExpkitError  # noqa: E402

DRAWS = 20  # sampled trials checked per random/bayes config


def answers() -> dict[str, dict[str, Any]]:
    import yaml

    return yaml.safe_load((CORPUS / "ANSWERS.yaml").read_text())


def _outcome(make_spec, expected: str) -> tuple[Any, str | None]:
    """(spec, None) when expkit accepted and the key expects ok; (None, verdict) otherwise."""
    try:
        spec = make_spec()
    except ExpkitError as exc:
        text = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
        if expected == "ok":
            return None, f"wrong: refused: {text}"
        return None, "refused" if expected in exc.message else f"wrong: refused differently: {text}"
    if expected != "ok":
        return None, f"wrong: accepted, expected the refusal '{expected}'"
    return spec, None


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _check_value(name: str, want: dict[str, Any], value: Any) -> str | None:
    if "value" in want:
        return None if value == want["value"] else f"{name}={value!r}, expected the constant {want['value']!r}"
    if "values" in want:
        ok = any(value == w and type(value) is type(w) or (isinstance(value, float) and isinstance(w, (int, float))
                                                           and not isinstance(w, bool) and _close(value, w))
                 for w in want["values"])
        return None if ok else f"{name}={value!r} is not one of {want['values']!r}"
    lo, hi = want.get("range") or want.get("irange")
    if "irange" in want and not (isinstance(value, int) and not isinstance(value, bool)):
        return f"{name}={value!r} should be an integer"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{name}={value!r} is not a number"
    if not (lo - 1e-9 * abs(lo) <= value <= hi + 1e-9 * abs(hi)):
        return f"{name}={value!r} is outside [{lo}, {hi}]"
    return None


def _check_argv(spec, params: dict[str, Any], style: str) -> str | None:
    from expkit.sweeps.spec import build_argv

    argv = build_argv(spec, params)
    for name in params:
        flag = any(a.startswith(f"--{name}=") for a in argv)
        bare = any(a.startswith(f"{name}=") for a in argv)
        if style == "flags" and not flag:
            return f"--{name}=... missing from {argv}"
        if style == "no_hyphens" and not bare:
            return f"{name}=... missing from {argv}"
        if style == "none" and (flag or bare):
            return f"{name} passed on the command line, but the command has no ${{args}}: {argv}"
    return None


def _trials(spec, runs_dir: Path) -> list[dict[str, Any]]:
    """What `sweep run --dry-run` plans, plus for random/bayes the first trials the sampler would start."""
    from expkit.sweeps import sample
    from expkit.sweeps.sweep import RunOptions, run_sweep

    result = run_sweep(spec, RunOptions(gpus="none", dry_run=True), runs_dir=runs_dir)
    trials = [t["params"] for t in result["trials"]]
    if spec.method == "bayes":
        import optuna

        from expkit.sweeps.bayes import ask

        trials.append(ask(optuna, spec, []))
        trials += [sample.random_trial(spec.params, seed, 0) for seed in range(DRAWS)]
    return trials


def judge(name: str, key: dict[str, Any]) -> str:
    """'accepted', 'refused', or 'wrong: why'."""
    from expkit.sweeps.spec import load_spec, parse_spec
    from expkit.sweeps.trials import trial_count
    from expkit.yamlfile import load_yaml

    path = CORPUS / name
    spec, verdict = _outcome(lambda: load_spec(path), key["as_is"])
    if "with" in key:
        if verdict != "refused":
            return verdict or "wrong: accepted as it is, the key expects a refusal first"
        spec, verdict = _outcome(lambda: parse_spec({**load_yaml(path), **key["with"]}, default_name=path.stem),
                                 key["then"])
    if verdict:
        return verdict
    if spec.method != key["method"]:
        return f"wrong: method {spec.method}, expected {key['method']}"
    if "trials" in key and trial_count(spec) != key["trials"]:
        return f"wrong: {trial_count(spec)} trials, expected {key['trials']}"
    declared = {p.name for p in spec.params}
    missing = set(key.get("params") or {}) - declared
    if missing:
        return f"wrong: parameters missing: {sorted(missing)}"
    with tempfile.TemporaryDirectory() as tmp:
        trials = _trials(spec, Path(tmp))
    if not trials:
        return "wrong: no trial planned"
    for params in trials:
        for pname, want in (key.get("params") or {}).items():
            problem = _check_value(pname, want, params[pname])
            if problem:
                return f"wrong: {problem}"
        problem = _check_argv(spec, {k: v for k, v in params.items()}, key["args"])
        if problem:
            return f"wrong: {problem}"
    return "accepted"


def scoreboard(verbose: bool = False) -> dict[str, dict[str, int]]:
    board: dict[str, dict[str, int]] = {"wandb": {}, "other": {}}
    for name, key in sorted(answers().items()):
        verdict = judge(name, key)
        kind = "wandb" if key.get("wandb", True) else "other"
        bucket = verdict.split(":")[0]
        board[kind][bucket] = board[kind].get(bucket, 0) + 1
        if verbose or bucket == "wrong":
            print(f"  {verdict:<10.200}  {name}")
    return board


_ORACLE = """
import json, sys, warnings
warnings.simplefilter("ignore")
import sweeps
out = {}
for name, cfg in json.load(sys.stdin).items():
    try:
        bad = sweeps.schema_violations_from_proposed_config(cfg)
        if bad:
            out[name] = {"violations": [str(b)[:200] for b in bad]}
            continue
        method = cfg.get("method")
        runs = sweeps.next_runs(cfg, [], n=1 if method == "bayes" else 20)
        if method == "grid":  # a grid's trials come one at a time, each knowing the ones before
            runs, seen = [], []
            for _ in range(20):
                nxt = sweeps.next_run(cfg, seen)
                if nxt is None:
                    break
                nxt.state = sweeps.RunState.finished
                seen.append(nxt)
            runs = seen
        out[name] = {"samples": [{k: v["value"] for k, v in r.config.items()} for r in runs if r is not None]}
    except Exception as exc:
        out[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
print(json.dumps(out))
"""


def oracle(python: str, verbose: bool = False) -> dict[str, int]:
    """W&B's own engine on every W&B config: schema-valid, and its samples inside the answer key's bounds."""
    import json
    import subprocess

    from expkit.yamlfile import load_yaml

    keys = {n: k for n, k in answers().items() if k.get("wandb", True)}
    configs = {n: load_yaml(CORPUS / n) for n in keys}
    proc = subprocess.run([python, "-c", _ORACLE], input=json.dumps(configs, default=str), capture_output=True,
                          text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"the oracle failed: {proc.stderr[-2000:]}")
    tally = {"valid": 0, "schema violations": 0, "errors": 0, "inside the key": 0, "outside the key": 0}
    for name, res in sorted(json.loads(proc.stdout).items()):
        if "violations" in res or "error" in res:
            tally["schema violations" if "violations" in res else "errors"] += 1
            if verbose:
                print(f"  W&B refuses    {name}: {(res.get('violations') or [res.get('error')])[0]}")
            continue
        tally["valid"] += 1
        problems = [p for sample in res["samples"] for pname, want in (keys[name].get("params") or {}).items()
                    if pname in sample and (p := _check_value(pname, want, sample[pname]))]
        tally["outside the key" if problems else "inside the key"] += 1
        if verbose or problems:
            print(f"  W&B samples    {name}: {'inside the key' if not problems else problems[0]}")
    return tally


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-v", "--verbose", action="store_true", help="One line per config.")
    ap.add_argument("--oracle", metavar="PYTHON", help="An interpreter with W&B's `sweeps` package installed.")
    args = ap.parse_args()
    board = scoreboard(args.verbose)
    for kind, label in (("wandb", "W&B sweep configs"), ("other", "other tools' sweep files")):
        c = board[kind]
        total = sum(c.values())
        print(f"{label}: {total} | accepted {c.get('accepted', 0)} | refused {c.get('refused', 0)} "
              f"(with the refusal the answer key names) | wrong {c.get('wrong', 0)}")
    if args.oracle:
        t = oracle(args.oracle, args.verbose)
        print(f"W&B's own engine (PyPI sweeps) on the same configs: schema-valid {t['valid']}, refused "
              f"{t['schema violations']}, errors {t['errors']}; its samples inside the answer key's bounds: "
              f"{t['inside the key']}/{t['valid']}")
    return 1 if any(b.get("wrong") for b in board.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
