"""Where a plan stands: each experiment's plan status and last result, what blocks what, which gates are open."""

from __future__ import annotations

from typing import Any

from expkit.plan import results as res
from expkit.plan import words
from expkit.plan.judged import complete_proceed, dependency_state, view
from expkit.plan.schema import Plan


def experiment_state(plan: Plan, exp_id: str) -> dict[str, Any]:
    exp = plan.experiments[exp_id]
    v = view(plan, exp_id)
    doc, verdict = v["doc"], v["verdict"] or {}
    ex = doc.get("expkit") or {}
    criteria = verdict.get("criteria") or {}
    ok = sum(1 for c in criteria.values() if c.get("level") in ("target_met", "acceptable"))
    judged_n = sum(1 for c in criteria.values() if c.get("level") not in (None, "not_measured"))
    plan_word = words.status(exp.raw.get("status"))
    warnings = list(v["warnings"])
    if not plan_word["known"]:
        warnings.append(f"{exp_id}: plan status '{plan_word['raw']}' is not a word expkit knows (passed*, "
                        "completed*, proceed*, pivot*, failed*, in_progress, not_started, blocked): shown as written; "
                        "it does not open a dependency gate")
    from expkit.plan.units import in_flight

    on_modal = sorted({sub for sub, _ in in_flight(doc)})
    subs = sub_states(doc, exp, on_modal)
    state = {"id": exp_id, "name": exp.name, "type": exp.raw.get("type"), "phase": exp.raw.get("phase"),
             "plan_status": exp.raw.get("status"), "plan_status_mapped": plan_word["mapped"],
             "plan_status_shown": words.shown(plan_word), "sub_experiments": exp.sub_ids,
             "result_status": verdict.get("status") if verdict else None,
             "recommendation": verdict.get("recommendation") if verdict else None,
             "recommendation_notes": verdict.get("recommendation_notes") if verdict else None,
             "confidence": (verdict.get("assessment") or {}).get("confidence") if verdict else None,
             "criteria_ok": ok if criteria else None, "criteria_judged": judged_n if criteria else None,
             "criteria_total": len(exp.criteria),
             "completed_at": doc.get("completed_at"), "passed": dependency_state(plan, exp_id, v)["open"],
             "judged_proceed": complete_proceed(verdict),
             "results_by": v["by"], "executed_by": v["runner"],
             "counts": verdict.get("counts") if verdict else ex.get("counts"), "dependencies": exp.dependencies,
             "blocked_by": [], "subs": subs, "on_modal": len(in_flight(doc)),
             "results": str(res.results_path(plan, exp_id)) if doc else None,
             "findings": f"experiments/{exp_id}/FINDINGS.md", "warnings": warnings}
    if v["by"] == "another runner":
        claimed = verdict["claimed"]
        state["claimed"] = {"status": claimed["status"]["raw"], "status_mapped": claimed["status"]["mapped"],
                            "recommendation": claimed["recommendation"]["raw"],
                            "recommendation_mapped": claimed["recommendation"]["mapped"]}
    state["stale"] = stale_plan_status(plan_word, verdict)
    return state


def sub_states(doc: dict[str, Any], exp, on_modal: list[str]) -> dict[str, str]:
    outcomes = res.sub_outcomes(doc, exp)
    out = {}
    for sub in exp.sub_ids:
        o = outcomes[sub]
        if sub in on_modal:
            out[sub] = "submitted (on Modal)"
        elif o.get("by") == "another runner":
            out[sub] = f"{o['status']} (another runner, as {o['key']}: {o.get('raw_status')})" \
                if o["key"] != sub or o.get("raw_status") != o["status"] else f"{o['status']} (another runner)"
        else:
            written = ((doc.get("results") or {}).get("experiments") or {}).get(sub)
            out[sub] = written.get("status", "not run") if isinstance(written, dict) else "not run"
    return out


# plan status word that a complete judged result implies
VERDICT_WORD = {"proceed": "passed", "pivot": "pivoted"}


def implied_status(verdict: dict[str, Any] | None) -> str | None:
    """The plan `status:` a judged result implies: passed, pivoted, else in_progress (a failed run is broken
    code, not a result: the experiment is still in progress); None for a stub."""
    if not verdict or verdict.get("status") in (None, "stub"):
        return None
    if verdict["status"] == "completed":
        return VERDICT_WORD.get(verdict.get("recommendation"), "in_progress")
    return "in_progress"


def stale_plan_status(plan_word: dict[str, Any], verdict: dict[str, Any] | None) -> str | None:
    """A note when the plan's `status:` disagrees with the last judged result, else None."""
    implied = implied_status(verdict)
    if implied is None or plan_word["raw"] is None:
        return None
    if plan_word["mapped"] == implied or (implied == "passed" and plan_word["gate"]):
        return None
    if implied == "in_progress" and plan_word["mapped"] in ("in_progress", "not_started"):
        return None
    return (f"the plan says {plan_word['raw']} but the last judged result is {verdict.get('status')} / "
            f"{verdict.get('recommendation')}")


def plan_status(plan: Plan, exp_id: str | None = None) -> dict[str, Any]:
    states = {e: experiment_state(plan, e) for e in plan.experiments}
    for st in states.values():
        st["blocked_by"] = [d for d in st["dependencies"] if d in states and not states[d]["passed"]]
    gates = []
    for gate_id, gate in plan.gates.items():
        members = [m for m in gate.get("experiments") or [] if m in states]
        waiting = [m for m in members if not states[m]["passed"]]
        gates.append({"id": gate_id, "name": gate.get("name") or gate_id, "experiments": members,
                      "unlocks": gate.get("unlocks"), "plan_status": gate.get("status"),
                      "open": not waiting and bool(members), "waiting_on": waiting})
    selected = [states[plan.resolve(exp_id)]] if exp_id else list(states.values())
    project = plan.raw.get("project") if isinstance(plan.raw.get("project"), dict) else {}
    phases = sorted({str(s["phase"]) for s in states.values() if s["phase"] is not None})
    warnings = [w for s in selected for w in s["warnings"]]
    return {"plan": str(plan.path), "project": project, "phases": phases, "experiments": selected,
            "gates": gates, "warnings": warnings}
