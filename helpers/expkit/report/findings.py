"""Render FINDINGS.md from results.yaml. expkit writes only between its markers:

    <!-- expkit:begin summary --> ... <!-- expkit:end summary -->

Anything the researcher writes outside those markers is kept on every re-render.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

from expkit.errors import ExpkitError
from expkit.fsutil import atomic_write_text
from expkit.plan import results as res
from expkit.plan.schema import Plan

FINDINGS = "FINDINGS.md"
_SECTION = re.compile(r"<!-- expkit:begin (?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- expkit:end (?P=name) -->", re.S)
MARKS = {"target_met": "✅", "acceptable": "☑️", "below_acceptable": "❌", "failure": "⛔", "not_measured": "—"}


def _env():
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("expkit.report", "templates"), autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["num"] = fmt_num
    return env


def fmt_num(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}"
    return f"{value:.3e}"


def merge(old: str | None, rendered: str) -> str:
    """Replace expkit's marked sections in `old` by those of `rendered`; keep everything else of `old`."""
    if not old:
        return rendered
    out = old
    for m in _SECTION.finditer(rendered):
        name, whole = m.group("name"), m.group(0)
        pattern = re.compile(rf"<!-- expkit:begin {re.escape(name)} -->\n.*?<!-- expkit:end {re.escape(name)} -->",
                             re.S)
        if pattern.search(out):
            out = pattern.sub(lambda _m: whole, out, count=1)
        else:
            out = out.rstrip("\n") + "\n\n" + whole + "\n"
    return out


def _write(path: Path, rendered: str) -> Path:
    old = path.read_text(encoding="utf-8") if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    from expkit.redact import Redactor, secret_values

    atomic_write_text(path, Redactor(secret_values(os.environ)).text(merge(old, rendered)))
    return path


def header(doc: dict[str, Any]) -> dict[str, str]:
    """The status line. A stub run can never read COMPLETED or PROCEED."""
    ex = doc.get("expkit") or {}
    status = str(doc.get("status") or "not run")
    rec = str(doc.get("recommendation") or "—")
    if ex.get("stub") or status == "stub":
        return {"status": "STUB", "recommendation": "NONE (stub results are not evidence)",
                "banner": "STUB RUN: placeholder values from stub handlers. Nothing here is a finding."}
    if status == "failed":
        return {"status": "FAILED", "recommendation": rec.upper(),
                "banner": "Sub-experiments failed: the hypothesis was not assessed. Fix them and re-run."}
    if status == "in_progress":
        return {"status": "IN PROGRESS", "recommendation": "—",
                "banner": "The run has not finished (or the runner was stopped): results below are partial."}
    return {"status": status.upper(), "recommendation": rec.upper(), "banner": ""}


def render_experiment(plan: Plan, exp_id: str, stub: bool = False, runs_dir: Path | None = None) -> Path:
    from expkit.report.plots import plot_experiment

    exp = plan.get(exp_id)
    path = res.results_path(plan, exp_id, stub)
    doc = res.load(path)
    if not doc:
        raise ExpkitError(f"no results for {exp_id} yet ({path} does not exist)",
                          f"run it first: expkit plan run {exp_id}" + (" --stub" if stub else ""))
    out_dir = path.parent
    if runs_dir is not None:
        doc.setdefault("expkit", {})["runs_dir"] = str(runs_dir)
    plot = plot_experiment(doc, out_dir / "plots" / "metrics.png")
    ex = doc.get("expkit") or {}
    subs = doc.get("results", {}).get("experiments", {}) or {}
    runs = ex.get("runs") or {}
    failed = []
    for sub, entry in subs.items():
        if isinstance(entry, dict) and entry.get("status") == "failed":
            last = [r for r in runs.get(sub, []) if r.get("status") == "failed"]
            tb = (last[-1].get("traceback") or "").strip().splitlines()[-25:] if last else []
            failed.append({"sub": sub, "error": entry.get("error"), "traceback": "\n".join(tb),
                           "run_id": last[-1].get("run_id") if last else None})
    criteria = list((ex.get("criteria") or {}).values())
    text = _env().get_template("experiment.md.j2").render(
        exp=exp, doc=doc, ex=ex, head=header(doc), subs=subs, runs=runs, criteria=criteria, marks=MARKS,
        failed=failed, plot=plot.relative_to(out_dir).as_posix() if plot else None,
        description=str(exp.raw.get("description") or "").strip(), stub=bool(ex.get("stub")),
        rerun=f"expkit plan run {exp_id} --rerun-failed" + (" --stub" if stub else ""),
        ok=sum(1 for c in criteria if c.get("level") in ("target_met", "acceptable")), no_matplotlib=_missing_matplotlib())
    return _write(out_dir / FINDINGS, text)


def _missing_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is None


def render_rollup(plan: Plan) -> Path:
    from expkit.plan.status import plan_status

    st = plan_status(plan)
    text = _env().get_template("rollup.md.j2").render(st=st, project=st["project"])
    return _write(plan.research_dir / FINDINGS, text)


def render_all(plan: Plan) -> list[Path]:
    out = [render_experiment(plan, e) for e in plan.experiments if res.results_path(plan, e).exists()]
    out.append(render_rollup(plan))
    return out
