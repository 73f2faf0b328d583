"""Criteria -> verdict: each criterion judged against its thresholds, then proceed / pivot / investigate.

With several seeds a threshold counts as met only when the whole 95% confidence interval clears it;
an interval straddling a threshold is borderline. So one lucky seed cannot turn into a proceed.
"""

from __future__ import annotations

import math
from typing import Any

from expkit.plan.schema import Criterion, Experiment

# two-sided 95% Student t quantiles for 1..30 degrees of freedom; 1.96 beyond
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
LABELS = {"target_met": "target met", "acceptable": "acceptable", "below_acceptable": "below acceptable",
          "failure": "at or past failure", "not_measured": "not measured"}
_RANK = {"target_met": 0, "acceptable": 1, "below_acceptable": 2, "failure": 3}
NEAR = 0.05


def summarize(values: list[float]) -> dict[str, Any]:
    """n, mean, std (sample), 95% CI of the mean (None for one value)."""
    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    n = len(vals)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "ci95": None, "values": list(values)}
    mean = sum(vals) / n
    if n == 1:
        return {"n": 1, "mean": mean, "std": None, "ci95": None, "values": vals}
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    half = (_T95[n - 2] if n - 1 <= len(_T95) else 1.96) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci95": [mean - half, mean + half], "values": vals}


def level(value: float, crit: Criterion) -> str:
    better = (lambda a, b: a <= b) if crit.direction == "lower" else (lambda a, b: a >= b)
    if better(value, crit.target):
        return "target_met"
    if better(value, crit.acceptable):
        return "acceptable"
    if crit.failure is not None and not better(value, crit.failure) or value == crit.failure:
        return "failure"
    return "below_acceptable"


def judge(crit: Criterion, stats: dict[str, Any] | None) -> dict[str, Any]:
    """One criterion: its level from the worst end of the CI, borderline when the CI straddles a threshold."""
    out: dict[str, Any] = {"metric": crit.metric, **crit.to_json(), "level": "not_measured",
                           "label": LABELS["not_measured"], "value": None, "std": None, "ci95": None, "n": 0,
                           "borderline": False, "near_threshold": None}
    if not stats or stats.get("mean") is None or not math.isfinite(stats["mean"]):
        return out
    mean, ci = stats["mean"], stats.get("ci95")
    if ci and all(math.isfinite(x) for x in ci):
        worst, best = (ci[1], ci[0]) if crit.direction == "lower" else (ci[0], ci[1])
        lvl, best_lvl = level(worst, crit), level(best, crit)
        out["borderline"] = lvl != best_lvl
    else:
        lvl = level(mean, crit)
    out.update(level=lvl, label=LABELS[lvl], value=mean, std=stats.get("std"), ci95=ci, n=stats["n"])
    for name in ("target", "acceptable", "failure"):
        thr = getattr(crit, name)
        if thr is not None and abs(mean - thr) <= NEAR * max(abs(thr), 1e-12):
            out["near_threshold"] = name
            break
    return out


def achieved(exp: Experiment, subs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """metric -> {source sub, stats, by_sub: {sub: mean}}: `from:` names the sub that counts, else the last one."""
    out = {}
    for crit in exp.criteria:
        by_sub = {}
        for sub_id in exp.sub_ids:
            seeds = (subs.get(sub_id) or {}).get("seed_metrics") or []
            values = [m[crit.metric] for m in seeds if isinstance(m, dict) and crit.metric in m]
            if values:
                by_sub[sub_id] = summarize(values)
        source = crit.source if crit.source else (list(by_sub)[-1] if by_sub else None)
        out[crit.metric] = {"source": source, "stats": by_sub.get(source) if source else None,
                            "by_sub": {k: v["mean"] for k, v in by_sub.items()}}
    return out


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"


def assess(exp: Experiment, subs: dict[str, dict[str, Any]], stub: bool) -> dict[str, Any]:
    """The verdict for one experiment from per-sub outcomes {sub: {status, seed_metrics: [..]}}.

    Returns status, recommendation, notes, assessment (existing results.yaml shape) and per-criterion detail.
    """
    statuses = {s: (subs.get(s) or {}).get("status", "not_run") for s in exp.sub_ids}
    failed = [s for s, st in statuses.items() if st == "failed"]
    skipped = [s for s, st in statuses.items() if st == "skipped"]
    pending = [s for s, st in statuses.items() if st == "not_run"]
    found = achieved(exp, subs)
    criteria = {}
    for crit in exp.criteria:
        item = judge(crit, found[crit.metric]["stats"])
        item["source"] = found[crit.metric]["source"]
        item["by_sub"] = found[crit.metric]["by_sub"]
        criteria[crit.metric] = item
    total = len(criteria)
    measured = [c for c in criteria.values() if c["level"] != "not_measured"]
    share = len(measured) / total if total else 0.0
    counts = {"completed": sum(st == "completed" for st in statuses.values()), "failed": len(failed),
              "skipped": len(skipped), "not_run": len(pending)}

    if failed:
        return {"status": "failed", "recommendation": "investigate", "counts": counts, "criteria": criteria,
                "recommendation_notes": (f"{len(failed)} sub-experiment(s) failed ({', '.join(failed)}): the code "
                                         "broke, so the hypothesis is not assessed. Fix and re-run them."),
                "assessment": {"success_criteria_met": None, "confidence": None,
                               "confidence_notes": "not assessed: sub-experiments failed"}}
    weak = [c["metric"] for c in measured if _RANK[c["level"]] >= 2]
    review = [c["metric"] for c in measured if c["borderline"] or c["near_threshold"]]
    if total == 0:
        rec, notes = "investigate", "no success criteria are defined: nothing to judge the results against"
    elif len(measured) == total and not weak:
        rec, notes = "proceed", "every criterion is at least acceptable"
    elif weak and share > 0.5:
        rec = "pivot"
        notes = "; ".join(f"{m} {_fmt(criteria[m]['value'])} is {criteria[m]['label']} (acceptable "
                          f"{_fmt(criteria[m]['acceptable'])}, failure {_fmt(criteria[m]['failure'])})" for m in weak)
    else:
        missing = [c["metric"] for c in criteria.values() if c["level"] == "not_measured"]
        rec, notes = "investigate", f"too few criteria measured ({len(measured)}/{total}; missing: {', '.join(missing)})"
    if pending or skipped:
        notes += f"; not run: {', '.join(pending + skipped)}"
    confidence = "high" if share == 1 else ("medium" if share >= 0.5 else "low")
    if confidence == "high" and review:
        confidence = "medium"
    conf_notes = f"{len(measured)}/{total} criteria measured"
    if review:
        conf_notes += "; flagged for human review (borderline interval or within 5% of a threshold): " + \
                      ", ".join(review)
    single = [c["metric"] for c in measured if c["n"] == 1]
    if single and len(exp.seeds) == 1:
        conf_notes += "; one seed per sub-experiment: no confidence interval"
    status = "completed"
    if stub:
        status, rec = "stub", "investigate"
        notes = "stub run: placeholder results from stub handlers, not evidence. Run without --stub."
        confidence, conf_notes = "none", "stub run"
    assessment: dict[str, Any] = {"success_criteria_met": (rec == "proceed") if total else None}
    for metric, c in criteria.items():
        assessment[f"{metric}_achieved"] = c["value"]
    assessment.update(confidence=confidence, confidence_notes=conf_notes)
    return {"status": status, "recommendation": rec, "recommendation_notes": notes, "counts": counts,
            "criteria": criteria, "assessment": assessment, "review": review}
