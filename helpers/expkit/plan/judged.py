"""What an experiment's results.yaml says once judged, whoever wrote it, and whether it opens a dependency gate.

expkit's own results carry the verdict of the run that wrote them. Results another runner wrote (the same
results.yaml shape, metrics under `results.experiments.<sub>.metrics`, no `expkit:` record) are judged here
against the plan's success_criteria, in memory: expkit never rewrites another runner's file.
"""

from __future__ import annotations

from typing import Any

from expkit.plan import results as res
from expkit.plan import words
from expkit.plan.schema import Plan


def view(plan: Plan, exp_id: str, stub: bool = False) -> dict[str, Any]:
    """{doc, verdict, by ('expkit' | 'another runner' | None), runner, warnings} for one experiment."""
    exp = plan.get(exp_id)
    doc = res.load(res.results_path(plan, exp.id, stub))
    if not doc:
        return {"doc": {}, "verdict": None, "by": None, "runner": None, "warnings": []}
    if res.written_by_expkit(doc):
        ex = doc.get("expkit") or {}
        verdict = {"status": doc.get("status"), "recommendation": doc.get("recommendation"),
                   "recommendation_notes": doc.get("recommendation_notes"), "criteria": ex.get("criteria") or {},
                   "assessment": doc.get("assessment") or {}, "counts": ex.get("counts"),
                   "review": ex.get("review") or []}
        missing = [s for s, o in res.sub_outcomes(doc, exp).items() if o["status"] in ("not_run", "skipped")]
        if missing and verdict["status"] == "completed":  # the plan lists sub-experiments this run never had
            verdict.update(status="partial", recommendation="investigate",
                           recommendation_notes=f"partial: no result for {', '.join(missing)}")
        return {"doc": doc, "verdict": verdict, "by": "expkit", "runner": doc.get("executed_by"), "warnings": []}
    _, warnings = res.read_subs(doc, exp)
    verdict = res.judge(doc, exp)
    verdict["claimed"] = {"status": words.status(doc.get("status")),
                          "recommendation": words.recommendation(doc.get("recommendation"))}
    for what, info in verdict["claimed"].items():
        if not info["known"]:
            warnings.append(f"{exp.id}: results.yaml `{what}: {info['raw']}` is not a word expkit knows: shown as "
                            "written")
    return {"doc": doc, "verdict": verdict, "by": "another runner", "runner": doc.get("executed_by"),
            "warnings": warnings}


def complete_proceed(verdict: dict[str, Any] | None) -> bool:
    """A complete judged result that recommends proceeding (never a stub, partial or in-progress one)."""
    return bool(verdict) and verdict.get("status") == "completed" and verdict.get("recommendation") == "proceed"


def dependency_state(plan: Plan, dep_id: str, judged: dict[str, Any] | None = None) -> dict[str, Any]:
    """Does `dep_id` let the experiments depending on it run? {open, why}.

    Open when the plan's status word passes (passed*, completed*, proceed*: the researcher's decision) or when
    its results are complete and judged proceed. Partial, in-progress, stub, pivot and failed results never open it.
    `judged` is its `view` when the caller has it already.
    """
    entry = plan.experiments[dep_id].raw if dep_id in plan.experiments else {}
    st = words.status(entry.get("status"))
    if st["gate"]:
        return {"open": True, "why": f"plan status {words.shown(st)}"}
    v = judged if judged is not None else view(plan, dep_id)
    if complete_proceed(v["verdict"]):
        return {"open": True, "why": "judged proceed"}
    if v["verdict"] is None:
        why = "not run"
    else:
        why = f"last result {v['verdict'].get('status')}, {v['verdict'].get('recommendation')}"
    if st["raw"]:
        why = f"plan status {words.shown(st)}; {why}"
    return {"open": False, "why": why}


def unmet_dependencies(plan: Plan, exp) -> list[str]:
    return [d for d in exp.dependencies if not dependency_state(plan, d)["open"]]
