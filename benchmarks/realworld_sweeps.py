"""Scoreboard: expkit against real public W&B sweep configs (tests/realworld/sweeps/, answer key in ANSWERS.yaml).

Each config is loaded as `expkit sweep run` loads it, dry-run as `--dry-run` plans it, and judged against its
answer key (written by reading the config, before expkit ran on it):

    accepted  expkit took it, every sampled value is inside the key's bounds and types, and the parameters reach
              the command the way W&B's agent would pass them
    refused   expkit refused it, with the refusal the key names (e.g. a bayes sweep without run_cap, no program)
    wrong     anything else: a refusal the key does not expect, a value out of bounds, a parameter missing

    python benchmarks/realworld_sweeps.py [-v]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-v", "--verbose", action="store_true", help="One line per config.")
    args = ap.parse_args()
    board = scoreboard(args.verbose)
    for kind, label in (("wandb", "W&B sweep configs"), ("other", "other tools' sweep files")):
        c = board[kind]
        total = sum(c.values())
        print(f"{label}: {total} | accepted {c.get('accepted', 0)} | refused {c.get('refused', 0)} "
              f"(with the refusal the answer key names) | wrong {c.get('wrong', 0)}")
    return 1 if any(b.get("wrong") for b in board.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
