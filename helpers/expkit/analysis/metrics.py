"""A run's metrics, from what it left on disk:

1. the W&B run it wrote (offline or online, read from its transaction log as `expkit runs metrics` does):
   for every metric it holds;
2. metrics.jsonl in the run dir: one JSON object per line ({"step": 3, "val_loss": 0.41, ...});
3. else `name=value` / `name: value` pairs printed to stdout.log (what most training loops print anyway).

The history of a metric is its values in logging order; "final" is the last value, "best" the min or max.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

_PAIR = re.compile(r"(?<![\w.])([A-Za-z_][\w./-]*)\s*[=:]\s*([-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|nan|inf))(?![\w.])")
_FILE_LIKE = re.compile(r"\.(py|pyx|cpp|cc|cu|c|h|hpp|so|js|json|ya?ml|txt|log|sh)$", re.I)  # `file.cpp:84`: a line number
_SKIP = {"step", "epoch", "_step", "seed", "iter", "global_step", "batch", "_runtime", "_timestamp"}


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class MetricReader:
    """Reads a run's metric histories; keeps file offsets so polling a growing log stays cheap."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self._offsets: dict[str, int] = {}
        self.history: dict[str, list[float]] = {}
        self.source: str | None = None

    def refresh(self) -> dict[str, list[float]]:
        jsonl = self.run_dir / "metrics.jsonl"
        if jsonl.exists():
            self.source = "metrics.jsonl"
            for line in self._new_lines(jsonl):
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict):
                    for k, v in row.items():
                        x = _num(v)
                        if x is not None and k not in _SKIP:
                            self.history.setdefault(k, []).append(x)
            return self.history
        log = self.run_dir / "stdout.log"
        if log.exists():
            self.source = "stdout.log"
            from expkit.monitor.logtext import segments
            from expkit.monitor.progress import is_config_echo, parse_segment

            for line in self._new_lines(log):
                for seg in segments(line):  # the last value of each tqdm redraw, each line once
                    if is_config_echo(seg):
                        continue
                    parsed = parse_segment(seg)
                    if not parsed:  # prose like `tokens per iteration will be: 256`, as `runs metrics` reads it
                        continue
                    values = {k: float(v) for k, v in _PAIR.findall(seg) if not _FILE_LIKE.search(k)}
                    values.update(parsed.get("metrics") or {})  # `valid loss 2.26`, quoted HF values, tables
                    for k, v in values.items():
                        if k.lower() not in _SKIP:
                            self.history.setdefault(k, []).append(v)
        return self.history

    def _new_lines(self, path: Path) -> list[str]:
        key = str(path)
        offset = self._offsets.get(key, 0)
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # only complete lines
        self._offsets[key] = offset + end
        return data[:end].decode("utf-8", "replace").splitlines()


def wandb_history(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Per metric of the W&B run an expkit run wrote, read exactly as `expkit runs metrics` reads it: from the
    run's transaction log (offline runs have no summary file), with its whole history."""
    from expkit.monitor.metrics import read_run_wandb

    info = read_run_wandb(run_dir)
    if info is None:
        return {}
    out = {}
    for name, m in info["metrics"].items():
        values = [float(v) for _, v in m["history"]] or [float(m["latest"])]
        finite = [v for v in values if math.isfinite(v)]
        out[name] = {"final": values[-1], "min": min(finite) if finite else None,
                     "max": max(finite) if finite else None, "count": len(values), "source": "wandb"}
    return out


def run_metrics(run_dir: Path) -> dict[str, dict[str, Any]]:
    """{name: {final, min, max, count, source}} for every numeric metric the run logged.

    A metric the run logged to W&B is read from W&B (its history, as `expkit runs metrics` does); the others
    from metrics.jsonl, else stdout.log.
    """
    reader = MetricReader(run_dir)
    hist = reader.refresh()
    out: dict[str, dict[str, Any]] = {}
    for k, values in hist.items():
        finite = [v for v in values if math.isfinite(v)]
        out[k] = {"final": values[-1], "min": min(finite) if finite else None, "max": max(finite) if finite else None,
                  "count": len(values), "source": reader.source}
    out.update(wandb_history(run_dir))
    return out


def best_of(entry: dict[str, Any], goal: str) -> float | None:
    return entry.get("min") if goal == "minimize" else entry.get("max")
