"""`expkit loop report`: the loop's findings page, its progress plot and a fresh-seed confirmation.

The kept changes were selected out of every trial, so their in-loop numbers are optimistic (the winner's curse).
`--confirm K` runs the best commit and the baseline again with K seeds never used in the loop and compares them:
that comparison is the unbiased one, and the page leads with it when it exists.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any, Callable

from expkit.errors import ExpkitError
from expkit.fsutil import atomic_write_text
from expkit.loop import api, gitops, stats
from expkit.loop.store import LoopStore
from expkit.loop.trial import TrialSpec, run_trial
from expkit.timeutil import human_duration, now_iso


def write_report(name: str, *, confirm: int = 0, out_dir: str | Path | None = None, runs_dir: Path | None = None,
                 cwd: Path | None = None, echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    cwd = Path(cwd or os.getcwd()).resolve()
    store = LoopStore(api.resolve_runs_dir(runs_dir, cwd), name)
    cfg = store.config()
    if confirm and confirm < 2:
        raise ExpkitError("--confirm needs at least 2 seeds", "e.g. --confirm 5")
    ledger = store.ledger()
    if not ledger:
        raise ExpkitError(f"loop {name} has no baseline yet", "its init did not finish: start a new loop")
    out = Path(out_dir).resolve() if out_dir else store.root
    out.mkdir(parents=True, exist_ok=True)
    confirmation = _confirm(store, cfg, ledger, confirm, echo) if confirm else None
    plot = out / "progress.png"
    plot_progress(ledger, cfg, plot)
    findings = out / "FINDINGS.md"
    atomic_write_text(findings, render(cfg, ledger, confirmation, plot.name))
    st = api.status(name, runs_dir=store.root.parent.parent, cwd=cwd)
    return {"loop": name, "findings": str(findings), "plot": str(plot), "confirmation": confirmation,
            "best": st["best"], "baseline": st["baseline"], "trials": st["trials"], "keeps": st["keeps"]}


def _confirm(store: LoopStore, cfg: dict[str, Any], ledger: list[dict], k: int, echo) -> dict[str, Any]:
    """Best and baseline, each with k fresh seeds, the code checked out in turn; the branch is restored after."""
    root = Path(cfg["repo"])
    best, base = api.best_entry(ledger), ledger[0]
    if best["commit"] == base["commit"]:  # nothing was kept: running the same commit twice would prove nothing
        return {"seeds": [], "best_commit": best["commit"], "baseline_commit": base["commit"], "values": {},
                "run_ids": {}, "at": now_iso(), "ok": False, "skipped": True,
                "note": "no change was kept, so the best is the baseline: nothing to confirm, nothing was run"}
    store.lock()
    try:
        if store.pending():
            raise ExpkitError("a trial is unfinished", f"run `expkit loop resume {cfg['name']}` first")
        if gitops.branch(root) != cfg["branch"]:
            raise ExpkitError(f"the repository is not on {cfg['branch']}", f"`git switch {cfg['branch']}` first")
        if gitops.dirty_paths(root):
            raise ExpkitError("the working tree has uncommitted changes",
                              "the confirmation checks out the baseline and the best commit: commit or stash first")
        used = {s for e in ledger for s in e.get("seeds") or []}
        rng = random.SystemRandom()
        seeds: list[int] = []
        while len(seeds) < k:
            s = rng.randrange(10_000, 2**31 - 1)
            if s not in used and s not in seeds:
                seeds.append(s)
        folder = store.root / "confirm"
        label = f"c{len(list(folder.iterdir())) + 1 if folder.is_dir() else 1}"
        results = {}
        try:
            for which, entry in (("base", base), ("best", best)):
                gitops.git(root, "checkout", "-q", "--detach", entry["commit"])
                spec = TrialSpec(loop=cfg["name"], trial=entry["trial"], commit=entry["commit"], argv=cfg["argv"],
                                 cwd=Path(cfg["cwd"]), runs_dir=store.root.parent.parent, seeds=seeds,
                                 metric=cfg["metric"], budget_s=cfg["budget_s"], grace_s=cfg["grace_s"],
                                 gpus=cfg.get("gpus"), backend=cfg.get("backend", "local"),
                                 backend_options=cfg.get("backend_options") or {}, metric_regex=cfg.get("metric_regex"),
                                 label=f"{label}-{which}")
                res = run_trial(spec, folder / label / which, echo)
                results[which] = res
        finally:
            gitops.git(root, "checkout", "-q", cfg["branch"])
    finally:
        store.unlock()
    crashed = {w: [r.crash for r in res if r.crash] for w, res in results.items()}
    values = {w: [r.value for r in res if r.crash is None] for w, res in results.items()}
    out: dict[str, Any] = {"seeds": seeds, "best_commit": best["commit"], "baseline_commit": base["commit"],
                           "values": values, "run_ids": {w: [r.run_id for r in res] for w, res in results.items()},
                           "at": now_iso()}
    if any(crashed.values()) or min(len(v) for v in values.values()) < 2:
        out.update(ok=False, note="a confirmation run crashed: " + "; ".join(
            f"{w}: {c[0]['family']}" for w, c in crashed.items() if c))
        return out
    d = stats.decide(values["base"], values["best"], cfg["goal"], alpha=cfg["alpha"])
    out.update(ok=True, decision=d.to_json(), confirmed=d.keep,
               best_mean=stats.mean(values["best"]), baseline_mean=stats.mean(values["base"]),
               test="one-sided two-sample t-test (Student, the two groups' pooled sd) on fresh seeds")
    return out


def plot_progress(ledger: list[dict], cfg: dict[str, Any], path: Path) -> None:
    """Metric per trial (mean of its seeds, with their spread), kept trials highlighted, the running best."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    ok = [e for e in ledger if e["status"] != "crash"]
    for status, color, label in (("discard", "#9e9e9e", "discarded"), ("keep", "#2e7d32", "kept")):
        pts = [e for e in ok if e["status"] == status]
        if pts:
            ax.errorbar([e["trial"] for e in pts], [e["mean"] for e in pts], yerr=[e["sd"] or 0 for e in pts],
                        fmt="o", color=color, ms=7 if status == "keep" else 4, capsize=2, label=label, zorder=3)
    crashes = [e["trial"] for e in ledger if e["status"] == "crash"]
    if crashes:
        ymin = min(e["mean"] for e in ok) if ok else 0
        ax.scatter(crashes, [ymin] * len(crashes), marker="x", color="#c62828", label="crash", zorder=3)
    xs, ys, best = [], [], None
    for e in ledger:
        if e["status"] == "keep":
            best = e["mean"]
        if best is not None:
            xs.append(e["trial"])
            ys.append(best)
    ax.step(xs, ys, where="post", color="#1565c0", label="best so far", zorder=2)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial (0 = baseline)")
    ax.set_ylabel(f"{cfg['metric']} (mean of {len(cfg['seeds'])} seeds, ±sd)")
    ax.set_title(f"loop {cfg['name']}: {cfg['metric']} ({'lower' if cfg['goal'] == 'min' else 'higher'} is better)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


def _g(x, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def render(cfg: dict[str, Any], ledger: list[dict], confirmation: dict | None, plot_name: str) -> str:
    noise, df = stats.pooled_sd(api.noise_groups(ledger))
    base, best = ledger[0], api.best_entry(ledger)
    trials = [e for e in ledger if e["trial"] > 0]
    n = {s: sum(1 for e in trials if e["status"] == s) for s in ("keep", "discard", "crash")}
    sign = 1 if cfg["goal"] == "max" else -1
    lines = [f"# Loop {cfg['name']}: findings", "",
             f"- Command: `{' '.join(cfg['argv'])}` on branch `{cfg['branch']}`, metric `{cfg['metric']}` "
             f"({'minimise' if cfg['goal'] == 'min' else 'maximise'}), budget {human_duration(cfg['budget_s'])} per "
             f"run, {len(cfg['seeds'])} seeds per trial",
             f"- Keep rule: improvement ≥ {cfg['min_delta']:g} and {stats.TEST_NAME} with p < {cfg['alpha']:g}",
             f"- {len(trials)} trials: {n['keep']} kept, {n['discard']} discarded, {n['crash']} crashed; compute "
             f"{human_duration(sum(e.get('compute_s') or 0 for e in ledger))}",
             f"- Noise floor: seed-to-seed sd {_g(noise)} (pooled, df {df}); baseline sd {_g(base.get('sd'))}", ""]
    if best and base.get("mean") is not None:
        total = sign * (best["mean"] - base["mean"])
        lines += [f"**Best:** `{best['commit'][:7]}` {cfg['metric']} = {_g(best['mean'])} vs baseline "
                  f"{_g(base['mean'])} (in-loop improvement {_g(total)}; selected among {len(trials)} trials, so "
                  "optimistic until confirmed).", ""]
    if confirmation:
        lines += ["## Confirmation with fresh seeds", ""]
        if confirmation.get("ok"):
            d = confirmation["decision"]
            verdict = "confirmed" if confirmation["confirmed"] else "NOT confirmed"
            lines += [f"Best `{confirmation['best_commit'][:7]}` vs baseline `{confirmation['baseline_commit'][:7]}`, "
                      f"{len(confirmation['seeds'])} seeds never used in the loop: {cfg['metric']} "
                      f"{_g(confirmation['best_mean'])} vs {_g(confirmation['baseline_mean'])}, improvement "
                      f"{_g(d['delta'])} (95% CI {_g(d['ci_low'])} .. {_g(d['ci_high'])}, p = {stats.format_p(d['p_value'])}): "
                      f"**{verdict}** ({confirmation['test']}).", ""]
        else:
            lines += [f"{'Skipped' if confirmation.get('skipped') else 'Not conclusive'}: {confirmation.get('note')}.", ""]
    lines += [f"![progress]({plot_name})", "", "## Kept changes", "",
              "| trial | commit | change | mean | improvement (95% CI) | p |", "|---|---|---|---|---|---|"]
    for e in ledger:
        if e["status"] != "keep":
            continue
        d = e.get("decision")
        imp = f"{_g(d['delta'])} ({_g(d['ci_low'])} .. {_g(d['ci_high'])})" if d else "baseline"
        lines.append(f"| {e['trial']} | `{e['commit'][:7]}` | {_cell(e['description'])} | {_g(e['mean'])} | {imp} | "
                     f"{stats.format_p(d['p_value']) if d else '-'} |")
    crashes = [e for e in ledger if e["status"] == "crash"]
    if crashes:
        lines += ["", "## Crashes", "", "| trial | change | diagnosis |", "|---|---|---|"]
        for e in crashes:
            c = e.get("crash") or {}
            lines.append(f"| {e['trial']} | {_cell(e['description'])} | {c.get('family')}: {_cell(c.get('summary') or '')} |")
    near = [e for e in trials if e["status"] == "discard" and (e.get("decision") or {}).get("delta", 0) > 0]
    if near:
        lines += ["", "## Discarded but pointing the right way", "",
                  "Better on average but not significantly: candidates for a retry with more seeds.", "",
                  "| trial | change | improvement (95% CI) | p |", "|---|---|---|---|"]
        for e in sorted(near, key=lambda e: e["decision"]["p_value"])[:10]:
            d = e["decision"]
            lines.append(f"| {e['trial']} | {_cell(e['description'])} | {_g(d['delta'])} ({_g(d['ci_low'])} .. "
                         f"{_g(d['ci_high'])}) | {stats.format_p(d['p_value'])} |")
    lines += ["", f"Ledger: `loop.jsonl` and `results.tsv` in the loop's folder. Written {now_iso()}.", ""]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
