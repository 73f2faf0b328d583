"""Where a plan stands: each experiment's plan status and last result, what blocks what, which gates are open."""

from __future__ import annotations

from typing import Any

from expkit.plan import results as res
from expkit.plan.schema import Plan


def experiment_state(plan: Plan, exp_id: str) -> dict[str, Any]:
    exp = plan.experiments[exp_id]
    doc = res.load(res.results_path(plan, exp_id))
    ex = doc.get("expkit") or {}
    criteria = ex.get("criteria") or {}
    ok = sum(1 for c in criteria.values() if c.get("level") in ("target_met", "acceptable"))
    passed = exp.raw.get("status") == "passed" or doc.get("recommendation") == "proceed"
    from expkit.plan.units import in_flight

    on_modal = sorted({sub for sub, _ in in_flight(doc)})
    return {"id": exp_id, "name": exp.name, "type": exp.raw.get("type"), "phase": exp.raw.get("phase"),
            "plan_status": exp.raw.get("status"), "sub_experiments": exp.sub_ids,
            "result_status": doc.get("status"), "recommendation": doc.get("recommendation"),
            "criteria_ok": ok if criteria else None, "criteria_total": len(exp.criteria),
            "completed_at": doc.get("completed_at"), "passed": passed,
            "counts": ex.get("counts"), "dependencies": exp.dependencies, "blocked_by": [],
            "subs": {s: "submitted (on Modal)" if s in on_modal else
                     ((doc.get("results") or {}).get("experiments") or {}).get(s, {}).get("status", "not run")
                     for s in exp.sub_ids},
            "on_modal": len(in_flight(doc)),
            "results": str(res.results_path(plan, exp_id)) if doc else None,
            "findings": f"experiments/{exp_id}/FINDINGS.md"}


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
    selected = [states[plan.get(exp_id).id]] if exp_id else list(states.values())
    project = plan.raw.get("project") if isinstance(plan.raw.get("project"), dict) else {}
    phases = sorted({str(s["phase"]) for s in states.values() if s["phase"] is not None})
    return {"plan": str(plan.path), "project": project, "phases": phases, "experiments": selected,
            "gates": gates}
