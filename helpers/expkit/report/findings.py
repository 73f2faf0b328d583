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
    env.filters["capfirst"] = lambda text: str(text)[:1].upper() + str(text)[1:]
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
    """The status line. A stub run can never read COMPLETED or PROCEED; a partial one never recommends."""
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
        return {"status": "IN PROGRESS", "recommendation": "INVESTIGATE",
                "banner": "The run has not finished (or the runner was stopped): results below are partial."}
    if status == "partial":
        return {"status": "PARTIAL", "recommendation": "INVESTIGATE",
                "banner": "Not every planned sub-experiment has a result yet: nothing is recommended until they "
                          "have all run."}
    return {"status": status.upper(), "recommendation": rec.upper(), "banner": ""}


NOT_RECORDED = "not recorded (results written by another runner)"


def _sub_rows(exp, doc: dict[str, Any], outcomes: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per planned sub-experiment, with the results key it was found under."""
    written = (doc.get("results") or {}).get("experiments") if isinstance(doc.get("results"), dict) else None
    written = written if isinstance(written, dict) else {}
    rows = []
    for sub in exp.sub_ids:
        o = outcomes.get(sub) or {}
        key = o.get("key") or sub
        entry = written.get(key) if isinstance(written.get(key), dict) else None
        raw = entry.get("status") if entry else None
        state = o.get("status", "not_run")
        shown = "not run" if not entry else (str(raw) if raw is not None else state)
        if entry and raw is not None and str(raw) != state and o.get("by") == "another runner":
            shown = f"{raw}: {'no result' if state == 'not_run' else state}"
        error = str(entry.get("error")).strip().splitlines()[0] if entry and entry.get("error") else None
        rows.append({"sub": sub, "key": key if key != sub else None, "status": shown, "entry": entry,
                     "finding": entry.get("finding") if entry else None, "error": error})
    return rows


def render_experiment(plan: Plan, exp_id: str, stub: bool = False, runs_dir: Path | None = None,
                      warnings: list[str] | None = None) -> Path:
    """Write FINDINGS.md for one experiment; hand-written lines that contradict the verdict go to `warnings`."""
    from expkit.plan.judged import view
    from expkit.report.claims import contradictions
    from expkit.report.plots import plot_experiment

    exp = plan.get(exp_id)
    exp_id = exp.id
    path = res.results_path(plan, exp_id, stub)
    v = view(plan, exp_id, stub)
    doc, verdict = v["doc"], v["verdict"]
    if not doc:
        raise ExpkitError(f"no results for {exp_id} yet ({path} does not exist)",
                          f"run it first: expkit plan run {exp_id}" + (" --stub" if stub else ""))
    out_dir = path.parent
    foreign = v["by"] == "another runner"
    if runs_dir is not None:
        doc.setdefault("expkit", {})["runs_dir"] = str(runs_dir)
    plot = plot_experiment(doc, out_dir / "plots" / "metrics.png")
    ex = doc.get("expkit") or {}
    subs = doc["results"].get("experiments") if isinstance(doc.get("results"), dict) else None
    subs = subs if isinstance(subs, dict) else {}
    runs = ex.get("runs") or {}
    outcomes = res.sub_outcomes(doc, exp)
    rows = _sub_rows(exp, doc, outcomes)
    failed = []
    for row in rows:
        entry = row["entry"]
        if entry and outcomes.get(row["sub"], {}).get("status") == "failed":
            last = [r for r in runs.get(row["sub"], []) if r.get("status") == "failed"]
            tb = (last[-1].get("traceback") or "") if last else str(entry.get("error") or "")
            tb_lines = tb.strip().splitlines()[-25:]
            failed.append({"sub": row["sub"], "error": row["error"] or "failed (no error recorded)",
                           "traceback": "\n".join(tb_lines) if len(tb_lines) > 1 else "",
                           "run_id": last[-1].get("run_id") if last else None})
    criteria = list((verdict.get("criteria") or {}).values())
    judged_n = sum(1 for c in criteria if c.get("level") != "not_measured")
    state = {"status": verdict.get("status"), "recommendation": verdict.get("recommendation"),
             "expkit": {"stub": ex.get("stub")}}
    assessment = verdict.get("assessment") or {}
    claimed = verdict.get("claimed") or {}
    env = _env()
    ctx = dict(exp=exp, doc=doc, ex=ex, head=header(state), subs=subs, rows=rows, runs=runs, criteria=criteria,
               marks=MARKS, failed=failed, plot=plot.relative_to(out_dir).as_posix() if plot else None,
               description=str(exp.raw.get("description") or "").strip(), stub=bool(ex.get("stub")),
               rerun=f"expkit plan run {exp_id} --rerun-failed" + (" --stub" if stub else ""),
               ok=sum(1 for c in criteria if c.get("level") in ("target_met", "acceptable")), judged_n=judged_n,
               verdict=verdict, confidence=assessment.get("confidence"),
               confidence_notes=assessment.get("confidence_notes"), foreign=foreign, runner=v["runner"],
               claimed=claimed, shown=_shown_word, not_recorded=NOT_RECORDED, plan_path=plan.path,
               plan_sha=plan.sha256, no_matplotlib=_missing_matplotlib())
    old = (out_dir / FINDINGS).read_text(encoding="utf-8") if (out_dir / FINDINGS).exists() else None
    found: list[dict[str, Any]] = []
    for _ in range(3):  # the header's warning lines move what follows: render until the line numbers settle
        merged = merge(old, env.get_template("experiment.md.j2").render(contradicts=found, **ctx))
        again = contradictions(merged, verdict.get("status"), verdict.get("recommendation"))
        if [c["header"] for c in again] == [c["header"] for c in found]:
            break
        found = again
    if warnings is not None:
        warnings.extend(v["warnings"])
        warnings.extend(f"{exp_id}: {c['warning']}" for c in found)
    (out_dir / FINDINGS).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / FINDINGS, merged)
    return out_dir / FINDINGS


def _shown_word(info: dict[str, Any] | None) -> str:
    from expkit.plan import words

    return words.shown(info or {})


def _missing_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is None


def render_rollup(plan: Plan, warnings: list[str] | None = None) -> Path:
    from expkit.plan.status import plan_status

    st = plan_status(plan)
    if warnings is not None:
        warnings.extend(w for w in st["warnings"] if w not in warnings)
    text = _env().get_template("rollup.md.j2").render(st=st, project=st["project"])
    return _write(plan.research_dir / FINDINGS, text)


def render_all(plan: Plan, warnings: list[str] | None = None) -> list[Path]:
    out = [render_experiment(plan, e, warnings=warnings) for e in plan.experiments
           if res.results_path(plan, e).exists()]
    out.append(render_rollup(plan, warnings))
    return out
