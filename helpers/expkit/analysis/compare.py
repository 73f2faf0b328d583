"""`expkit runs compare`: the config keys that differ and the final/best metrics side by side, best run marked."""

from __future__ import annotations

import json
from typing import Any

from expkit.analysis.metrics import run_metrics
from expkit.errors import ExpkitError
from expkit.runs.store import Run, RunStore


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: obj} if prefix else {}


def run_config(run: Run) -> dict[str, Any]:
    """What a run was configured with: its --config values, its sweep/queue parameters, its seed."""
    m = run.manifest()
    cfg = flatten((m.get("config") or {}).get("values") or {}) if isinstance((m.get("config") or {}).get("values"), dict) else {}
    cfg.update((m.get("sweep") or {}).get("params") or {})
    if not cfg:
        cfg["command"] = (m.get("command") or {}).get("shell")
        source = (m.get("reproduces") or {}).get("run_id")
        if source:  # its argv is the original's, re-pointed at the worktree: the command is the one reproduced
            cfg["command"] = f"reproduces {source}"
            try:
                original = json.loads((run.path.parent / source / "manifest.json").read_text())
                cfg["command"] = (original.get("command") or {}).get("shell") or cfg["command"]
            except (OSError, ValueError):
                pass
    # the seed the run used: a trial's own seed parameter (already in cfg) wins over what expkit exported
    if not any(k.split(".")[-1] in ("seed", "random_seed", "seed_everything") for k in cfg):
        cfg["seed"] = (m.get("seed") or {}).get("value")
    return cfg


def guess_goal(metric: str) -> str:
    low = metric.lower()
    if any(w in low for w in ("acc", "f1", "auc", "precision", "recall", "bleu", "rouge", "score", "reward", "map",
                              "iou", "r2")):
        return "maximize"
    return "minimize"


def pick_metric(metrics: list[dict[str, dict]]) -> str | None:
    common = set.intersection(*(set(m) for m in metrics)) if metrics else set()
    for pref in ("val_loss", "valid_loss", "eval_loss", "val_acc", "val_accuracy", "eval_accuracy", "loss", "accuracy"):
        if pref in common:
            return pref
    return sorted(common)[0] if common else None


def compare(runs: list[Run], metric: str | None = None, goal: str | None = None) -> dict[str, Any]:
    if len(runs) < 2:
        raise ExpkitError("compare needs at least two runs", "give two or more run ids, or --group G")
    configs = [run_config(r) for r in runs]
    metrics = [run_metrics(r.path) for r in runs]
    keys = sorted(set().union(*configs))
    differ = [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]
    same = {k: configs[0].get(k) for k in keys if k not in differ}
    metric = metric or pick_metric(metrics)
    goal = goal or (guess_goal(metric) if metric else "minimize")
    shown = sorted(set().union(*metrics))[:8] if not metric else [metric] + [
        k for k in sorted(set.intersection(*(set(m) for m in metrics))) if k != metric][:5]
    rows = []
    for run, cfg, met in zip(runs, configs, metrics):
        st = run.status()
        rows.append({"run_id": run.id, "state": st["state"], "config": {k: cfg.get(k) for k in differ},
                     "metrics": {k: {"final": met[k]["final"], "best": met[k]["min" if guess_goal(k) == "minimize"
                                                                             else "max"]} if k in met else None
                                 for k in shown}})
    best = None
    if metric:
        scored = [(r["metrics"][metric]["best"], r["run_id"]) for r in rows
                  if r["metrics"].get(metric) and r["metrics"][metric]["best"] is not None]
        if scored:
            best = (min(scored) if goal == "minimize" else max(scored))[1]
    for r in rows:
        r["best"] = r["run_id"] == best
    return {"metric": metric, "goal": goal, "best_run": best, "differing_keys": differ, "same": same,
            "metrics_shown": shown, "runs": rows}


def resolve_runs(store: RunStore, ids: list[str], group: str | None) -> list[Run]:
    if group:
        runs = [r for r in store.all() if r.manifest().get("group") == group]
        if not runs:
            raise ExpkitError(f"no runs in group {group}", "see the groups with `expkit runs list`")
        return sorted(runs, key=lambda r: r.id)
    return [store.get(i) for i in ids]


def cell_text(v: Any) -> str:
    """A value as a table cell: floats to 4 significant digits, None as "-"."""
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def render_text(result: dict[str, Any]) -> str:
    differ, shown = result["differing_keys"], result["metrics_shown"]
    head = ["", "run"] + differ + [f"{m} (final/best)" for m in shown] + ["state"]
    table = [head]
    for r in result["runs"]:
        mets = [(cell_text(v["final"]) + "/" + cell_text(v["best"])) if v else "-" for v in r["metrics"].values()]
        table.append(["*" if r["best"] else "", r["run_id"]] + [cell_text(r["config"][k]) for k in differ] + mets
                     + [r["state"]])
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
    if result["same"]:
        same = ", ".join(f"{k}={cell_text(v)}" for k, v in list(result["same"].items())[:8])
        lines.append(f"same in all: {same}")
    if result["best_run"]:
        lines.append(f"* best by {result['metric']} ({result['goal']}): {result['best_run']}")
    elif result["metric"] is None:
        lines.append("no metric common to these runs (log metrics.jsonl or print name=value lines)")
    return "\n".join(lines)
