"""Metric curves from each sub-experiment run's metrics.jsonl, as one PNG (matplotlib, headless)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

MAX_PANELS = 12


def read_curves(run_dir: Path) -> dict[str, list[tuple[float, float]]]:
    """metric -> [(step, value)] from a run's metrics.jsonl (bad lines skipped), else from the W&B run it
    wrote (read as `expkit runs metrics` does: an offline run's history comes from its transaction log)."""
    curves: dict[str, list[tuple[float, float]]] = {}
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return wandb_curves(run_dir)
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            step = row.get("_step")
            for key, value in row.items():
                if key.startswith("_") or not isinstance(value, (int, float)) or isinstance(value, bool):
                    continue
                if math.isfinite(value):
                    curves.setdefault(key, []).append((step if step is not None else len(curves.get(key, [])),
                                                       float(value)))
    return curves


def wandb_curves(run_dir: Path) -> dict[str, list[tuple[float, float]]]:
    from expkit.monitor.metrics import read_run_wandb

    info = read_run_wandb(run_dir)
    if info is None:
        return {}
    return {name: [(float(step if step is not None else i), float(v)) for i, (step, v) in enumerate(m["history"])
                   if math.isfinite(v)] for name, m in info["metrics"].items() if m["history"]}


def plot_experiment(doc: dict[str, Any], out: Path) -> Path | None:
    """One panel per metric that has a curve (2+ points); one line per sub-experiment and seed. None if no curve."""
    ex = doc.get("expkit") or {}
    runs_dir = Path(ex.get("runs_dir") or ".")
    series: dict[str, list[tuple[str, list[tuple[float, float]]]]] = {}
    for sub, items in (ex.get("runs") or {}).items():
        multi = len(items) > 1
        for item in items:
            if not item.get("run_id"):
                continue
            for metric, points in read_curves(runs_dir / item["run_id"]).items():
                if len(points) >= 2:
                    label = sub + (f" seed {item.get('seed')}" if multi else "")
                    series.setdefault(metric, []).append((label, sorted(points)))
    if not series:
        return None
    try:
        import matplotlib
    except ImportError:
        return None  # plots are optional: pip install 'expkit[plots]'
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = sorted(series)[:MAX_PANELS]
    cols = min(3, len(metrics))
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    criteria = ex.get("criteria") or {}
    for ax, metric in zip(axes.flat, metrics):
        for label, points in series[metric]:
            ax.plot([p[0] for p in points], [p[1] for p in points], label=label, linewidth=1.5)
        crit = criteria.get(metric)
        if crit:
            ax.axhline(crit["target"], color="green", linestyle="--", linewidth=1, label="target")
            ax.axhline(crit["acceptable"], color="orange", linestyle=":", linewidth=1, label="acceptable")
        ax.set_title(metric)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    title = doc.get("experiment_id", "")
    if ex.get("stub"):
        title += " (STUB: placeholder values)"
    fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(out)
    return out
