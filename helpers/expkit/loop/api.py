"""`expkit loop`: an autonomous research loop whose keeps are real.

    init    branch loop/<name> from the current commit, record the setup, run the baseline with K seeds
    try     commit the working-tree change, run its K seeds (budget enforced), keep it only if it beats the best
            by >= min_delta with p < alpha (loop.stats), else reset the branch to the best commit
    status  best commit and metric, counts, compute spent, noise floor
    resume  finish a trial whose `loop try` died (kill -9, reboot): no trial lost, none counted twice

Crash safety: pending.json is written before the trial's commit; the ledger line is written before the reset;
pending.json is removed last. `resume` redoes whatever step is missing, so ledger and branch always agree.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Callable

from expkit.errors import ExpkitError, Failure
from expkit.loop import gitops, stats
from expkit.loop.store import LoopStore
from expkit.loop.trial import SeedResult, TrialSpec, run_trial
from expkit.timeutil import now_iso

DEFAULT_GRACE_S = 30.0


def parse_duration(text: str | float | int, what: str = "--budget") -> float:
    """'5m' -> 300, '90s' / '90' -> 90, '1h' -> 3600, '1.5m' -> 90."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?\s*", str(text))
    if not m or float(m.group(1)) <= 0:
        raise ExpkitError(f"{what} '{text}' is not a duration", f"write seconds or a unit: {what} 300, 90s, 5m, 1h")
    return float(m.group(1)) * {"s": 1, "sec": 1, None: 1, "m": 60, "min": 60, "h": 3600}[m.group(2)]


def resolve_runs_dir(runs_dir: Path | None, cwd: Path) -> Path:
    from expkit.runs.store import default_runs_dir

    return (Path(runs_dir) if runs_dir else default_runs_dir(cwd)).resolve()


# derived state --------------------------------------------------------------------------------------------------
def best_entry(ledger: list[dict[str, Any]]) -> dict[str, Any] | None:
    kept = [r for r in ledger if r["status"] == "keep"]
    return kept[-1] if kept else None


def reference(entry: dict[str, Any]) -> list[float]:
    """What a kept trial is known by: its K seeds plus K reference seeds run after the keep (2K values)."""
    return entry.get("reference_values") or entry.get("values") or []


def noise_groups(ledger: list[dict[str, Any]]) -> list[list[float]]:
    return [reference(r) for r in ledger if r["status"] != "crash" and r.get("values")]


# init -----------------------------------------------------------------------------------------------------------
def init(name: str, argv: list[str], *, metric: str, goal: str, budget: str = "5m", seeds: int = 3,
         protect: list[str] = (), min_delta: float = 0.0, alpha: float = 0.05, gpus: str | None = None,
         grace: str | None = None, metric_regex: str | None = None, backend: str = "local",
         backend_options: dict[str, Any] | None = None, runs_dir: Path | None = None, cwd: Path | None = None,
         echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    cwd = Path(cwd or os.getcwd()).resolve()
    if not argv:
        raise ExpkitError("no command to run", "put the training command after --: expkit loop init NAME ... -- python train.py")
    if goal not in ("min", "max"):
        raise ExpkitError(f"--goal must be min or max, got '{goal}'", "min for a loss, max for an accuracy")
    if seeds < 2:
        raise ExpkitError("--seeds must be at least 2", "the keep rule needs the seed-to-seed spread: use 3 or more")
    if not 0 < alpha < 1:
        raise ExpkitError(f"--alpha must be between 0 and 1, got {alpha}", "0.05 is the usual level")
    if min_delta < 0:
        raise ExpkitError("--min-delta cannot be negative", "give the smallest improvement worth keeping, e.g. 0.01")
    if metric_regex:
        try:
            re.compile(metric_regex)
        except re.error as exc:
            raise ExpkitError(f"--metric-regex is not a valid regular expression: {exc}",
                              r"e.g. --metric-regex 'val_bpb:\s*([0-9.]+)' (group 1 is the value)") from None
    budget_s = parse_duration(budget)
    grace_s = parse_duration(grace, "--grace") if grace is not None else DEFAULT_GRACE_S
    backend = (backend or "local").lower()
    if backend not in ("local", "slurm"):
        raise ExpkitError(f"--backend {backend} is not supported by the loop", "use local (default) or slurm")
    if backend != "local":
        from expkit import backends

        backends.ready(backend, **(backend_options or {}))
    root = gitops.repo_root(cwd)
    runs = resolve_runs_dir(runs_dir, cwd)
    store = LoopStore(runs, name)
    branch = f"loop/{name}"
    if store.exists():
        raise ExpkitError(f"loop {name} already exists ({store.root})",
                          f"continue it with `expkit loop try {name} -m ...`, or pick another name")
    if gitops.branch_exists(root, branch):
        raise ExpkitError(f"the branch {branch} already exists", "pick another loop name, or delete that branch")
    if gitops.head(root) is None:
        raise ExpkitError("the repository has no commit yet", "commit your code first: the baseline is a commit")
    dirty = [p for p in gitops.dirty_paths(root) if not _under(root / p, runs)]
    if dirty:
        raise ExpkitError(f"the working tree has uncommitted changes ({', '.join(dirty[:5])}"
                          + (" ..." if len(dirty) > 5 else "") + ")",
                          "commit or stash them first: the baseline must be exactly a commit")
    hashes = gitops.protect_hashes(root, cwd, list(protect))
    from expkit.runs.launch import check_runs_dir

    check_runs_dir(runs)
    store.lock()
    try:
        started_from = gitops.branch(root)
        gitops.create_branch(root, branch)
        base = gitops.head(root)
        cfg = {"schema": 1, "name": name, "branch": branch, "repo": str(root), "cwd": str(cwd), "argv": list(argv),
               "metric": metric, "goal": goal, "budget_s": budget_s, "grace_s": grace_s,
               "seeds": list(range(seeds)), "reference_seeds": list(range(seeds, 2 * seeds)), "min_delta": min_delta, "alpha": alpha, "test": stats.TEST_NAME,
               "protect": hashes, "gpus": gpus, "backend": backend, "backend_options": backend_options or {},
               "metric_regex": metric_regex, "base_commit": base, "started_from_branch": started_from,
               "created_at": now_iso()}
        store.write_config(cfg)
        store.write_pending({"trial": 0, "description": "baseline", "parent": None, "commit": base,
                             "started_at": now_iso()})
        entry = _finish_trial(store, cfg, store.pending(), echo)
    finally:
        store.unlock()
    if entry["status"] == "crash":  # no loop without a baseline: undo the branch and the state, keep the runs
        import shutil

        gitops.git(root, "checkout", "-q", started_from or base)
        gitops.git(root, "branch", "-q", "-D", branch)
        shutil.rmtree(store.root, ignore_errors=True)
        raise Failure(f"the baseline crashed ({entry['crash']['family']}): {entry['crash']['summary']}",
                      f"see `expkit runs logs {entry['crash'].get('run_id')}`; fix the command or the code, commit, "
                      "and run init again (nothing of the loop was kept)")
    left = [p for p in gitops.dirty_paths(root) if not _under(root / p, runs)]
    warnings = ([_outputs_warning(left)] if left else []) + _no_noise_warning(entry, metric, runs)
    return {"loop": name, "branch": branch, "baseline": _summary(entry, noise_groups(store.ledger())),
            **({"warnings": warnings} if warnings else {}),
            "noise_floor": entry["sd"], "state_dir": str(store.root), "ledger": str(store.ledger_path),
            "results_tsv": str(store.tsv_path), "test": stats.TEST_NAME,
            "next": f"edit the code, then `expkit loop try {name} -m \"what changed\"`"}


def _no_noise_warning(entry: dict, metric: str, runs: Path) -> list[str]:
    """Identical values on every seed leave the t-test no spread to judge by: say why, from the run's manifest."""
    values = entry.get("values") or []
    if len(values) < 2 or len(set(values)) > 1:
        return []
    try:
        seed = json.loads((runs / entry["run_ids"][0] / "manifest.json").read_text()).get("seed") or {}
    except (OSError, ValueError, IndexError, KeyError, AttributeError):
        seed = {}
    if seed.get("applied") is False:
        why = (f"the seed never reaches the script ({seed.get('how')}): make it read EXPKIT_SEED "
               "(torch.manual_seed(int(os.environ['EXPKIT_SEED'])))")
    else:
        why = "the script prints the metric too coarsely (2 decimals?): print more digits, or train longer"
    return [f"every baseline seed gave {metric} = {values[0]} (seed sd 0): {why}, commit, and start a loop under "
            "a new name; until then any change that moves the metric looks significant"]


def _under(path: Path, folder: Path) -> bool:
    p, f = path.resolve(), folder.resolve()
    return p == f or f in p.parents


# try ------------------------------------------------------------------------------------------------------------
def try_change(name: str, message: str, *, runs_dir: Path | None = None, cwd: Path | None = None,
               echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    cwd = Path(cwd or os.getcwd()).resolve()
    if not message or not message.strip():
        raise ExpkitError("say what changed with -m", 'e.g. expkit loop try NAME -m "cosine LR schedule"')
    store = LoopStore(resolve_runs_dir(runs_dir, cwd), name)
    cfg = store.config()
    root = Path(cfg["repo"])
    store.lock()
    try:
        if store.pending():
            p = store.pending()
            raise ExpkitError(f"trial {p['trial']} of loop {name} did not finish (its `loop try` was interrupted)",
                              f"finish it first: `expkit loop resume {name}`")
        ledger = store.ledger()
        best = best_entry(ledger)
        if best is None:
            raise ExpkitError(f"loop {name} has no baseline", "its init did not finish: start a new loop")
        if gitops.branch(root) != cfg["branch"]:
            raise ExpkitError(f"the repository is on {gitops.branch(root) or 'a detached HEAD'}, not {cfg['branch']}",
                              f"switch back with `git switch {cfg['branch']}` (carry your change over with git stash)")
        head = gitops.head(root)
        if head != best["commit"] and not gitops.is_ancestor(root, best["commit"], head):
            raise ExpkitError(f"HEAD {head[:7]} does not descend from the best commit {best['commit'][:7]}",
                              f"reset to it (`git reset --hard {best['commit'][:7]}`) and make the change again")
        changed = gitops.changed_protected(root, cfg["protect"])
        if changed:
            raise ExpkitError(f"protected path(s) changed: {', '.join(changed)}; nothing was committed or run",
                              "undo the edit (`git checkout -- " + " ".join(changed) + "`): these files decide "
                              "the metric and may not change during the loop")
        dirty = [p for p in gitops.dirty_paths(root) if not _under(root / p, store.root.parent.parent)]
        if head == best["commit"] and not dirty:
            raise ExpkitError("nothing to try: the working tree is the best commit",
                              "edit the code first, then run `expkit loop try` again")
        trial = max(r["trial"] for r in ledger) + 1
        pending = {"trial": trial, "description": message.strip(), "parent": best["commit"], "commit": None,
                   "started_at": now_iso()}
        store.write_pending(pending)
        if dirty:
            gitops.commit_all(root, message.strip())
        pending["commit"] = gitops.head(root)
        store.write_pending(pending)
        entry = _finish_trial(store, cfg, pending, echo)
        left = [p for p in gitops.dirty_paths(root) if not _under(root / p, store.root.parent.parent)]
    finally:
        store.unlock()
    out = _try_result(store, cfg, entry)
    if left:  # outputs the runs wrote into the repository: the next `try` would commit them as part of its change
        out["warnings"] = [_outputs_warning(left)]
    return out


def _outputs_warning(paths: list[str]) -> str:
    return (f"the runs left files in the repository ({', '.join(paths[:5])}" + (" ..." if len(paths) > 5 else "")
            + "): add them to .gitignore or write them under $EXPKIT_RUN_DIR, or the next trial commits them")


def resume(name: str, *, runs_dir: Path | None = None, cwd: Path | None = None,
           echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Finish the interrupted trial, if any, and make the branch agree with the ledger."""
    cwd = Path(cwd or os.getcwd()).resolve()
    store = LoopStore(resolve_runs_dir(runs_dir, cwd), name)
    cfg = store.config()
    root = Path(cfg["repo"])
    store.lock()
    try:
        pending = store.pending()
        if pending is None:
            out = {"loop": name, "resumed": None, "note": "no trial was interrupted"}
            out.update(status(name, runs_dir=store.root.parent.parent, cwd=cwd))
            return out
        if gitops.branch(root) != cfg["branch"]:
            raise ExpkitError(f"the repository is on {gitops.branch(root) or 'a detached HEAD'}, not {cfg['branch']}",
                              f"switch back with `git switch {cfg['branch']}`, then resume")
        if pending.get("commit") is None:  # interrupted around the commit itself
            head = gitops.head(root)
            if head != pending["parent"] and gitops.is_ancestor(root, pending["parent"], head):
                pending["commit"] = head
            elif gitops.dirty_paths(root):
                pending["commit"] = gitops.commit_all(root, pending["description"])
            else:
                store.clear_pending()  # nothing was committed and nothing ran: the trial never began
                return {"loop": name, "resumed": pending["trial"], "note": "the trial had not started: nothing to do"}
            store.write_pending(pending)
        entry = _finish_trial(store, cfg, pending, echo)
    finally:
        store.unlock()
    out = _try_result(store, cfg, entry)
    out["resumed"] = entry["trial"]
    return out


def _finish_trial(store: LoopStore, cfg: dict[str, Any], pending: dict[str, Any], echo) -> dict[str, Any]:
    """Run (or adopt) the trial's seeds, decide, write the ledger line, reset the branch, drop pending.json.

    Each step is skipped when a previous, interrupted call already did it.
    """
    root = Path(cfg["repo"])
    trial = pending["trial"]
    done = next((r for r in store.ledger() if r["trial"] == trial), None)
    if done is None:
        def spec(seeds: list[int], label: str) -> TrialSpec:
            return TrialSpec(loop=cfg["name"], trial=trial, commit=pending["commit"], argv=cfg["argv"],
                             cwd=Path(cfg["cwd"]), runs_dir=store.root.parent.parent, seeds=seeds,
                             metric=cfg["metric"], budget_s=cfg["budget_s"], grace_s=cfg["grace_s"],
                             gpus=cfg.get("gpus"), backend=cfg.get("backend", "local"),
                             backend_options=cfg.get("backend_options") or {}, metric_regex=cfg.get("metric_regex"),
                             label=label, known_python=cfg.get("python"))

        ref_seeds = cfg.get("reference_seeds") or []
        seeds = cfg["seeds"] + (ref_seeds if trial == 0 else [])  # the baseline is measured with 2K seeds at once
        results = run_trial(spec(seeds, f"t{trial:04d}"), store.trial_dir(trial), echo)
        done = _entry(store, cfg, pending, results)
        if done["status"] == "keep" and trial > 0 and ref_seeds:
            # the K seeds that won the test are a lucky draw (winner's curse): measure the new best again with K
            # reference seeds, so the bar later trials must clear is not its own luck
            more = run_trial(spec(ref_seeds, f"t{trial:04d}r"), store.trial_dir(trial).with_name(f"{trial:04d}r"),
                             echo)
            _add_reference(done, more)
        if trial == 0 and cfg.get("python") is None and done["run_ids"][0]:
            from expkit.runs.store import Run

            cfg["python"] = Run(store.root.parent.parent / done["run_ids"][0]).manifest().get("python")
            store.write_config(cfg)
        store.append(done, cfg["metric"])
    best = best_entry(store.ledger())
    if done["status"] != "keep" and best is not None:  # (no best: the baseline crashed, init undoes the loop)
        gitops.keep_ref(root, cfg["name"], trial, done["commit"])
        if gitops.head(root) != best["commit"]:
            gitops.reset_to(root, best["commit"])
    store.clear_pending()
    return done


def _entry(store: LoopStore, cfg: dict[str, Any], pending: dict[str, Any], results: list[SeedResult]) -> dict:
    ledger = [r for r in store.ledger() if r["trial"] != pending["trial"]]
    values = [r.value for r in results if r.crash is None]
    compute = sum(r.duration_s or 0.0 for r in results)
    entry = {"trial": pending["trial"], "commit": pending["commit"], "parent": pending.get("parent"),
             "description": pending["description"], "seeds": [r.seed for r in results],
             "run_ids": [r.run_id for r in results], "values": values,
             "mean": stats.mean(values) if values and len(values) == len(results) else None,
             "sd": stats.sd(values) if len(values) == len(results) else None,
             "over_time": sum(1 for r in results if r.over_time), "compute_s": round(compute, 3),
             "sources": sorted({r.source for r in results if r.source}),
             "started_at": pending.get("started_at"), "ended_at": now_iso(), "decision": None, "crash": None}
    crashed = [r for r in results if r.crash is not None]
    if crashed:
        first = crashed[0]
        entry.update(status="crash", mean=None, sd=None,
                     crash={**first.crash, "seeds_crashed": len(crashed), "seed": first.seed})
        return entry
    best = best_entry(ledger)
    if best is None:  # the baseline
        entry["status"] = "keep"
        entry["reference_values"] = values
        return entry
    groups = noise_groups([r for r in ledger if r["trial"] != best["trial"]])
    d = stats.decide(reference(best), values, cfg["goal"], noise_groups=groups, min_delta=cfg["min_delta"],
                     alpha=cfg["alpha"])
    entry["decision"] = {**d.to_json(), "best_commit": best["commit"], "best_trial": best["trial"],
                         "best_mean": best["mean"], "test": stats.TEST_NAME}
    entry["status"] = "keep" if d.keep else "discard"
    return entry


def _add_reference(entry: dict[str, Any], more: list[SeedResult]) -> None:
    """A kept trial's reference seeds: its mean becomes that of all 2K runs; a crash there makes it a crash."""
    entry["run_ids"] += [r.run_id for r in more]
    entry["seeds"] += [r.seed for r in more]
    entry["compute_s"] = round(entry["compute_s"] + sum(r.duration_s or 0.0 for r in more), 3)
    entry["over_time"] += sum(1 for r in more if r.over_time)
    crashed = [r for r in more if r.crash is not None]
    if crashed:
        entry.update(status="crash", mean=None, sd=None, crash={
            **crashed[0].crash, "seeds_crashed": len(crashed), "seed": crashed[0].seed,
            "summary": f"kept on its first seeds, then crashed on reference seed {crashed[0].seed}: "
                       f"{crashed[0].crash.get('summary')}"})
        return
    entry["reference_values"] = entry["values"] + [r.value for r in more]
    entry["mean"] = stats.mean(entry["reference_values"])
    entry["sd"] = stats.sd(entry["reference_values"])


def _summary(entry: dict[str, Any], groups: list[list[float]]) -> dict[str, Any]:
    s, df = stats.pooled_sd(groups)
    ref = reference(entry)
    lo, hi = stats.mean_ci(ref, s, df) if ref else (None, None)
    return {"trial": entry["trial"], "commit": entry["commit"], "description": entry["description"],
            "mean": entry["mean"], "ci95": [lo, hi], "values": ref, "run_ids": entry["run_ids"]}


def _try_result(store: LoopStore, cfg: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    ledger = store.ledger()
    best = best_entry(ledger)
    d = entry.get("decision") or {}
    out = {"loop": cfg["name"], "trial": entry["trial"], "commit": entry["commit"], "description": entry["description"],
           "decision": entry["status"], "metric": cfg["metric"], "goal": cfg["goal"], "mean": entry["mean"],
           "values": entry["values"], "reference_values": entry.get("reference_values"), "delta": d.get("delta"), "delta_ci95": [d.get("ci_low"), d.get("ci_high")]
           if d else None, "p_value": d.get("p_value"), "reason": d.get("reason"),
           "test": f"{stats.TEST_NAME}, alpha={cfg['alpha']:g}, min_delta={cfg['min_delta']:g}",
           "best": _summary(best, noise_groups(ledger)), "run_ids": entry["run_ids"],
           "over_time": entry["over_time"], "crash": entry.get("crash")}
    if entry["status"] == "crash":
        out["reason"] = f"crash ({entry['crash']['family']}): {entry['crash']['summary']}"
    return out


# status ---------------------------------------------------------------------------------------------------------
def status(name: str, *, runs_dir: Path | None = None, cwd: Path | None = None) -> dict[str, Any]:
    cwd = Path(cwd or os.getcwd()).resolve()
    store = LoopStore(resolve_runs_dir(runs_dir, cwd), name)
    cfg = store.config()
    ledger = store.ledger()
    best = best_entry(ledger)
    trials = [r for r in ledger if r["trial"] > 0]
    count = {s: sum(1 for r in trials if r["status"] == s) for s in ("keep", "discard", "crash")}
    s, df = stats.pooled_sd(noise_groups(ledger))
    root = Path(cfg["repo"])
    head = gitops.head(root)
    baseline = ledger[0] if ledger and ledger[0]["trial"] == 0 else None
    pending = store.pending()
    return {"loop": name, "branch": cfg["branch"], "metric": cfg["metric"], "goal": cfg["goal"],
            "command": cfg["argv"], "budget_s": cfg["budget_s"], "seeds": len(cfg["seeds"]),
            "best": _summary(best, noise_groups(ledger)) if best else None,
            "baseline": _summary(baseline, noise_groups(ledger)) if baseline else None,
            "trials": len(trials), "keeps": count["keep"], "discards": count["discard"], "crashes": count["crash"],
            "compute_s": round(sum(r.get("compute_s") or 0 for r in ledger), 1),
            "noise_floor": {"pooled_sd": s, "df": df, "baseline_sd": baseline["sd"] if baseline else None},
            "test": f"{stats.TEST_NAME}, alpha={cfg['alpha']:g}, min_delta={cfg['min_delta']:g}",
            "in_progress": pending,
            "branch_agrees": pending is not None or (best is not None and head == best["commit"]),
            "head": head, "ledger": str(store.ledger_path), "results_tsv": str(store.tsv_path)}
