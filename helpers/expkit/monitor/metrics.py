"""Latest and best value of each metric of a run, from wherever it logged, saying which source was used.

Sources, in order: the run's W&B offline run dir (read locally), the W&B online run (public API, only with
WANDB_API_KEY), expkit's metrics.jsonl, and as a last resort `loss=…`/`acc: …`/tqdm postfix values parsed from the
log.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable

from expkit.monitor import progress

METRICS_FILE = "metrics.jsonl"
SOURCES = ("auto", "wandb", "wandb-online", "jsonl", "log")
_MIN = re.compile(r"loss|err|perplexity|ppl|mse|mae|rmse|wer|cer|nll|bpb|bpc|fid", re.I)
_MAX = re.compile(r"acc|f1|auc|bleu|rouge|precision|recall|iou|map|score|reward|top[15]|r2|psnr|ssim|spearman|pearson",
                  re.I)
_NOT_METRIC = {"step", "global_step", "epoch", "_step", "_runtime", "_timestamp", "iter", "iteration", "it"}


def direction(name: str) -> str | None:
    """min for losses and errors, max for accuracies and scores, None when the name does not say."""
    if _MIN.search(name):
        return "min"
    if _MAX.search(name):
        return "max"
    return None


def summarize_rows(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """rows of {metric: value, step?: n} -> {metric: {latest, latest_step, best, best_step, count, direction}}."""
    out: dict[str, dict[str, Any]] = {}
    for i, row in enumerate(rows):
        step = row["step"] if "step" in row else row.get("global_step", row.get("_step", i))
        for key, value in row.items():
            if key in _NOT_METRIC or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            value = float(value)
            m = out.setdefault(key, {"count": 0, "direction": direction(key), "best": None, "best_step": None})
            m["count"] += 1
            m["latest"], m["latest_step"] = value, step
            if row.get("epoch") is not None:
                m["latest_epoch"] = row["epoch"]
            if math.isnan(value) or math.isinf(value):
                m["non_finite"] = m.get("non_finite", 0) + 1
                continue
            d = m["direction"]
            if d and (m["best"] is None or (value < m["best"] if d == "min" else value > m["best"])):
                m["best"], m["best_step"] = value, step
                if row.get("epoch") is not None:
                    m["best_epoch"] = row["epoch"]
    return out


def from_jsonl(path: Path) -> list[dict[str, Any]] | None:
    if not path.exists():
        return None
    rows = []
    with open(path, "rb") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a torn last line of a live run, or garbage: skip it
            if isinstance(row, dict):
                rows.append(row)
    return rows


def from_log(log: Path) -> list[dict[str, Any]] | None:
    """Rows of the values a log prints, each at the step and epoch the script printed with or before it (never
    the count of lines, which says nothing about training progress)."""
    recs = progress.read_records(log, 8 << 20)
    rows = []
    step = epoch = None
    for r in recs:
        step = r.get("step", step)
        epoch = r.get("epoch", epoch)
        if r.get("metrics"):
            row = {k: v for k, v in r["metrics"].items() if k not in ("step", "epoch")}
            row["step"], row["epoch"] = step, epoch
            rows.append(row)
    return rows or None


def wandb_dirs(run_dir: Path, cwd: str | None, since: float | None) -> list[Path]:
    """W&B run folders (offline-run-* or run-*) this run wrote: under the run dir, else under its cwd."""
    found = []
    for base in (run_dir / "wandb", Path(cwd) / "wandb" if cwd else None):
        if base is None or not base.is_dir():
            continue
        for d in base.iterdir():
            if d.is_dir() and re.match(r"(offline-)?run-", d.name) and (since is None or d.stat().st_mtime >= since):
                found.append(d)
        if found:
            break
    return sorted(found, key=lambda d: d.stat().st_mtime)


def wandb_run_dir(run_dir: Path, manifest: dict, status: dict) -> Path | None:
    """The W&B run folder an expkit run wrote: the one named by its WANDB_RUN_ID (sweep trials set one), else
    the newest written since the run started, under the run dir, else under its cwd."""
    from expkit.timeutil import parse_iso

    rid = (manifest.get("env") or {}).get("WANDB_RUN_ID")
    cwd = (manifest.get("command") or {}).get("cwd")
    if rid:
        named = [d for d in wandb_dirs(run_dir, cwd, None) if d.name.endswith(f"-{rid}")]
        if named:
            return named[-1]
    started = parse_iso(status.get("started_at") or manifest.get("created_at"))
    dirs = wandb_dirs(run_dir, cwd, started.timestamp() - 5 if started else None)
    return dirs[-1] if dirs else None


def project_python(manifest: dict) -> str | None:
    """The interpreter the run used: its `wandb` can read the run's log when expkit's environment has none."""
    return (manifest.get("python") or {}).get("executable")


def read_run_wandb(run_dir: Path) -> dict | None:
    """read_wandb_run() of the W&B run an expkit run dir wrote (found as above), or None when there is none
    or it cannot be read. What compare, sweep reports and plan plots use, so they agree with `runs metrics`."""
    from expkit.monitor.wandb_local import read_wandb_run
    from expkit.runs.store import Run

    run = Run(run_dir)
    manifest = run.manifest()
    folder = wandb_run_dir(run.path, manifest, run.raw_status())
    if folder is None:
        return None
    try:
        return read_wandb_run(folder, project_python(manifest))
    except Exception:  # a damaged or partial W&B folder: the other sources still count
        return None


def wandb_rows(info: dict) -> list[dict[str, Any]]:
    """A read_wandb_run() result back to rows by step; a summary-only value has no history and step None."""
    rows: dict = {}
    for name, m in info["metrics"].items():
        for step, value in m.get("history") or [[m.get("step"), m["latest"]]]:
            rows.setdefault(step, {"step": step})[name] = value
    return [rows[k] for k in sorted(rows, key=lambda s: (s is None, s or 0))]


def _from_wandb_local(folder: Path, manifest: dict) -> tuple[list[dict[str, Any]] | None, dict | None]:
    try:
        from expkit.monitor.wandb_local import read_wandb_run
    except ImportError:
        return None, None
    info = read_wandb_run(folder, project_python(manifest))
    return wandb_rows(info), info


def _from_wandb_online(folder: Path, manifest: dict) -> list[dict[str, Any]] | None:
    if not os.environ.get("WANDB_API_KEY"):
        return None
    m = re.match(r"(?:offline-)?run-\d{8}_\d{6}-(\w+)$", folder.name)
    project = (manifest.get("wandb") or {}).get("project") or os.environ.get("WANDB_PROJECT")
    if not m or not project:
        return None
    import wandb

    api = wandb.Api()
    entity = os.environ.get("WANDB_ENTITY") or api.default_entity
    return list(api.run(f"{entity}/{project}/{m.group(1)}").scan_history())


def read_metrics(run, source: str = "auto") -> dict[str, Any]:
    """{source, detail, metrics: {...}, tried: [...], wandb: identity or None} for a Run.

    `wandb` names the W&B run the run wrote (id, URL when online, offline dir and its `wandb sync` command,
    the wandb.init call that resumes it), whichever source the metrics came from.
    """
    manifest, status = run.manifest(), run.status()
    folder = wandb_run_dir(run.path, manifest, status)
    wandb_info = None
    tried: list[str] = []
    order = [source] if source != "auto" else ["wandb", "wandb-online", "jsonl", "log"]
    found = None
    for name in order:
        rows, detail = None, None
        if name in ("wandb", "wandb-online"):
            if folder is None:
                tried.append(f"{name}: no W&B run folder")
                continue
            detail = str(folder)
            try:
                if name == "wandb":
                    rows, wandb_info = _from_wandb_local(folder, manifest)
                else:
                    rows = _from_wandb_online(folder, manifest)
            except Exception as exc:  # a damaged or partial W&B file must not hide the other sources
                tried.append(f"{name}: {type(exc).__name__}: {exc}"[:200])
                continue
            if rows is None:
                tried.append(f"{name}: " + ("no W&B offline reader available" if name == "wandb"
                                            else "no WANDB_API_KEY, or the run id/project is unknown"))
                continue
        elif name == "jsonl":
            detail = str(run.path / METRICS_FILE)
            rows = from_jsonl(run.path / METRICS_FILE)
        elif name == "log":
            detail = str(run.log_path)
            rows = from_log(run.log_path)
        summary = summarize_rows(rows or [])
        if summary:
            found = {"run_id": run.id, "source": name, "detail": detail, "metrics": summary, "tried": tried}
            break
        tried.append(f"{name}: nothing found in {detail}")
    out = found or {"run_id": run.id, "source": None, "detail": None, "metrics": {}, "tried": tried}
    out["wandb"] = wandb_identity(run, folder, wandb_info, manifest) if folder is not None else None
    return out


def wandb_identity(run, folder: Path | None = None, info: dict | None = None,
                   manifest: dict | None = None) -> dict | None:
    """The W&B run an expkit run wrote (see wandb_local.run_identity), with its state; None when it wrote none."""
    from expkit.monitor.wandb_local import read_wandb_run, run_identity

    manifest = manifest if manifest is not None else run.manifest()
    if folder is None:
        folder = wandb_run_dir(run.path, manifest, run.raw_status())
        if folder is None:
            return None
    if info is None:
        try:
            info = read_wandb_run(folder, project_python(manifest))
        except Exception:  # a damaged W&B folder: name it from its directory alone
            info = {}
    if not info.get("project"):
        env = manifest.get("env") or {}
        info = {**info, "project": (manifest.get("wandb") or {}).get("project") or env.get("WANDB_PROJECT")}
    base_url = (manifest.get("env") or {}).get("WANDB_BASE_URL")
    return {**run_identity(folder, info, _log_head(run.log_path), base_url), "state": info.get("state")}


def _log_head(log: Path, limit: int = 256 << 10) -> str:
    """The start and end of a run's log, where W&B prints the run's URL."""
    try:
        with open(log, "rb") as fh:
            head = fh.read(limit)
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            if size > limit:
                fh.seek(max(limit, size - limit))
                head += b"\n" + fh.read(limit)
    except OSError:
        return ""
    return head.decode("utf-8", "replace")
