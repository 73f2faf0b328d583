"""`expkit sweep report`: the trials best first, the metric against each swept parameter (PNG), and what to try
next, drawn from the data: where the best region is (for a coarse-to-fine sweep), a best value sitting on the edge
of its range, parameters that barely move the metric, failures worth a look."""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from expkit.analysis.compare import cell_text, guess_goal
from expkit.analysis.metrics import run_metrics
from expkit.sweeps.spec import parse_spec


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def sweep_report(name: str, runs_dir: Path, metric: str | None = None, goal: str | None = None,
                 out_dir: Path | None = None, plots: bool = True) -> dict[str, Any]:
    from expkit.sweeps.sweep import find_sweep

    batch = find_sweep(name, runs_dir)
    meta = batch.meta()
    if (meta.get("backend") or {}).get("name"):  # trials on Slurm: job states brought up to date first
        from expkit.sweeps.remote import sync

        sync(batch, runs_dir)
    spec = parse_spec(meta["spec"], default_name=batch.name)
    metric = metric or spec.metric_name
    rows = []
    for job in batch.jobs():
        att = next((a for a in reversed(job["attempts"]) if a.get("state") not in ("prepared",)), None)
        mets = run_metrics(runs_dir / att["run_id"]) if att and (runs_dir / att["run_id"]).exists() else {}
        rows.append({"trial": job["id"], "state": job["state"], "params": job.get("params") or {},
                     "run_id": att["run_id"] if att else None, "attempts": len(job["attempts"]), "metrics": mets})
    if metric is None:
        common = set.intersection(*(set(r["metrics"]) for r in rows if r["metrics"])) if any(
            r["metrics"] for r in rows) else set()
        metric = next((m for m in ("val_loss", "loss", "val_acc", "accuracy") if m in common), None) or (
            sorted(common)[0] if common else None)
    goal = goal or (spec.goal if spec.metric else (guess_goal(metric) if metric else "minimize"))
    for r in rows:
        entry = r["metrics"].get(metric) if metric else None
        r["final"] = entry["final"] if entry else None
        r["best"] = (entry["min"] if goal == "minimize" else entry["max"]) if entry else None
        r["metrics"] = {k: v["final"] for k, v in r["metrics"].items()}
    scored = [r for r in rows if _is_num(r["best"])]
    scored.sort(key=lambda r: r["best"], reverse=goal == "maximize")
    order = scored + [r for r in rows if r not in scored]
    swept = [p.name for p in spec.swept]
    result: dict[str, Any] = {"sweep": batch.name, "metric": metric, "goal": goal, "swept": swept,
                              "counts": {s: sum(1 for r in rows if r["state"] == s) for s in
                                         sorted({r["state"] for r in rows})},
                              "best": order[0] if scored else None, "trials": order, "plots": [],
                              "suggestions": suggestions(spec, scored, rows, metric, goal)}
    if plots and scored and metric:
        out = Path(out_dir) if out_dir else batch.root / "report"
        out.mkdir(parents=True, exist_ok=True)
        result["plots"] = [str(p) for p in plot_params(spec, scored, metric, goal, out)]
    return result


def suggestions(spec, scored: list[dict], rows: list[dict], metric: str | None, goal: str) -> list[str]:
    out: list[str] = []
    failed = [r for r in rows if r["state"] == "failed"]
    if failed:
        out.append(f"{len(failed)} trial(s) failed: read one with `expkit runs logs {failed[0]['run_id']}` "
                   "before trusting the rest")
    if not metric:
        out.append("no metric found: log one (metrics.jsonl, or print name=value lines) and set metric: in the spec")
        return out
    if len(scored) < 3:
        out.append(f"only {len(scored)} trial(s) reported {metric}: too few to say what matters")
        return out
    best = scored[0]
    top = scored[: max(2, len(scored) // 4)]
    values = [r["best"] for r in scored]
    spread = max(values) - min(values)
    for p in spec.swept:
        tried = [r["params"].get(p.name) for r in scored]
        nums = [v for v in tried if _is_num(v)]
        groups: dict[str, list[float]] = {}
        for r in scored:
            groups.setdefault(repr(r["params"].get(p.name)), []).append(r["best"])
        means = [statistics.mean(v) for v in groups.values()]
        if len(groups) > 1 and spread > 0 and (max(means) - min(means)) < 0.1 * spread:
            out.append(f"{p.name} barely matters: its values move {metric} by {max(means) - min(means):.3g} on average "
                       f"against a spread of {spread:.3g}; fix it and spend the trials elsewhere")
            continue
        if len(nums) == len(tried) and len(set(nums)) > 2:
            lo, hi = min(nums), max(nums)
            bv = best["params"][p.name]
            region = [r["params"][p.name] for r in top]
            if bv in (lo, hi):
                edge = "lower" if bv == lo else "upper"
                out.append(f"the best {p.name} ({bv:g}) is at the {edge} edge of what was tried [{lo:g}, {hi:g}]: "
                           f"extend the range {'below' if edge == 'lower' else 'above'} it")
            else:
                lo_r, hi_r = min(region), max(region)
                if lo_r == hi_r:  # the best runs share one value: search between its neighbours
                    uniq = sorted(set(nums))
                    i = uniq.index(bv)
                    lo_r, hi_r = uniq[i - 1], uniq[i + 1]
                out.append(f"coarse-to-fine: the best {p.name} is {bv:g}; sweep [{lo_r:g}, {hi_r:g}] more finely "
                           f"(the top {len(top)} trials lie there)")
        elif len(groups) > 1:
            out.append(f"{p.name}: {best['params'].get(p.name)!r} gave the best {metric}")
    out.append(f"best trial {best['trial']} ({best['run_id']}): {metric} {best['best']:.4g} with "
               + ", ".join(f"{k}={v}" for k, v in best["params"].items() if k in {p.name for p in spec.swept}))
    return out


def plot_params(spec, scored: list[dict], metric: str, goal: str, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for p in spec.swept:
        xs = [r["params"].get(p.name) for r in scored]
        ys = [r["best"] for r in scored]
        fig, ax = plt.subplots(figsize=(5, 3.5))
        if all(_is_num(x) for x in xs):
            ax.scatter(xs, ys, alpha=0.8)
            pos = [x for x in xs if x > 0]
            if len(pos) == len(xs) and max(xs) / min(xs) >= 20:
                ax.set_xscale("log")
        else:
            cats = sorted({repr(x) for x in xs})
            ax.scatter([cats.index(repr(x)) for x in xs], ys, alpha=0.8)
            ax.set_xticks(range(len(cats)), [c.strip("'") for c in cats], rotation=30, ha="right")
        best = scored[0]
        bx = best["params"].get(p.name)
        if _is_num(bx) or not all(_is_num(x) for x in xs):
            ax.scatter([bx if _is_num(bx) else sorted({repr(x) for x in xs}).index(repr(bx))], [best["best"]],
                       color="red", zorder=3, label="best")
            ax.legend()
        ax.set_xlabel(p.name)
        ax.set_ylabel(f"{metric} ({'min' if goal == 'minimize' else 'max'} per trial)")
        ax.set_title(f"{spec.name}: {metric} vs {p.name}")
        fig.tight_layout()
        path = out / f"{metric}_vs_{p.name}.png".replace("/", "_")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


def render_text(result: dict[str, Any]) -> str:
    swept, metric = result["swept"], result["metric"]
    head = ["", "trial"] + swept + [f"{metric} best" if metric else "metric", "final", "state", "run"]
    table = [head]
    best_id = result["best"]["trial"] if result["best"] else None
    for r in result["trials"]:
        table.append(["*" if r["trial"] == best_id else "", r["trial"]] + [cell_text(r["params"].get(k)) for k in swept]
                     + [cell_text(r["best"]), cell_text(r["final"]), r["state"], r["run_id"] or "-"])
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = [f"sweep {result['sweep']}: " + ", ".join(f"{v} {k}" for k, v in result["counts"].items())
             + (f"; ranked by {metric} ({result['goal']})" if metric else "")]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
    if result["plots"]:
        lines.append("plots:")
        lines += [f"  {p}" for p in result["plots"]]
    if result["suggestions"]:
        lines.append("next steps:")
        lines += [f"  - {s}" for s in result["suggestions"]]
    return "\n".join(lines)
