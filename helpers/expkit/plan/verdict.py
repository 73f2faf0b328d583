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
        out["best_level"] = best_lvl
    else:
        lvl = level(mean, crit)
        out["best_level"] = lvl
    out.update(level=lvl, label=LABELS[lvl], value=mean, std=stats.get("std"), ci95=ci, n=stats["n"])
    for name in ("target", "acceptable", "failure"):
        thr = getattr(crit, name)
        if thr is not None and abs(mean - thr) <= NEAR * max(abs(thr), 1e-12):
            out["near_threshold"] = name
            break
    return out


def diff_stats(a: list[float], b: list[float], seeds_a: list | None = None,
               seeds_b: list | None = None) -> dict[str, Any]:
    """The delta a - b with its 95% CI: paired by seed when both ran the same seeds, else Welch's interval."""
    if seeds_a and seeds_a == seeds_b and None not in seeds_a and len(a) == len(b):
        out = summarize([x - y for x, y in zip(a, b)])
        out["paired"] = True
        return out
    sa, sb = summarize(a), summarize(b)
    if not sa["n"] or not sb["n"]:
        return {"n": 0, "mean": None, "std": None, "ci95": None, "values": [], "paired": False}
    mean = sa["mean"] - sb["mean"]
    n = min(sa["n"], sb["n"])
    if sa["std"] is None or sb["std"] is None:
        return {"n": n, "mean": mean, "std": None, "ci95": None, "values": [], "paired": False}
    va, vb = sa["std"] ** 2 / sa["n"], sb["std"] ** 2 / sb["n"]
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / ((va ** 2 / (sa["n"] - 1)) + (vb ** 2 / (sb["n"] - 1))) if va + vb > 0 else n - 1
    t = _T95[max(1, int(df)) - 1] if df <= len(_T95) else 1.96
    return {"n": n, "mean": mean, "std": None, "ci95": [mean - t * se, mean + t * se], "values": [], "paired": False}


def _printed_match(value: float, reported: float) -> bool:
    """Does `value` equal `reported` at the precision it was written with (0.69 matches 0.6904, not 0.691)?"""
    if value == reported:
        return True
    text = repr(float(reported))
    decimals = len(text.split(".")[1]) if "." in text and "e" not in text else 12
    return round(value, decimals) == reported


def achieved(exp: Experiment, subs: dict[str, dict[str, Any]],
             assessment: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """metric -> {source, rule, stats, by_sub}. Which sub-experiment's value counts, in this order:
    `from:` in the criterion; else the sub whose value the results file's own `assessment` reports as
    `<metric>_achieved` (results written by another runner); else the last sub-experiment that reports it.
    A criterion with `relative_to:` is judged on the delta (source - baseline) and its 95% CI across seeds."""
    out = {}
    for crit in exp.criteria:
        by_sub, seeds_of = {}, {}
        for sub_id in exp.sub_ids:
            entry = subs.get(sub_id) or {}
            rows = entry.get("seed_metrics") or []
            seeds = entry.get("seeds") or [None] * len(rows)
            pairs = [(s, m[crit.reads]) for s, m in zip(seeds, rows) if isinstance(m, dict) and crit.reads in m]
            if pairs:
                by_sub[sub_id] = summarize([v for _, v in pairs])
                seeds_of[sub_id] = [s for s, _ in pairs]
        candidates = [s for s in by_sub if s != crit.relative_to]
        reported = (assessment or {}).get(f"{crit.metric}_achieved") if not crit.relative_to else None
        reported = reported if isinstance(reported, (int, float)) and not isinstance(reported, bool) else None
        stats = None
        if crit.source:
            source, rule = crit.source, "from"
        elif reported is not None:
            matches = [s for s in candidates if by_sub[s]["mean"] is not None
                       and _printed_match(by_sub[s]["mean"], reported)]
            source, rule = (matches[-1] if matches else None), "assessment"
            if not matches:
                stats = summarize([reported])
        else:
            source, rule = (candidates[-1] if candidates else None), "last"
        if stats is None:
            stats = by_sub.get(source) if source else None
        item = {"source": source, "rule": rule, "stats": stats,
                "by_sub": {k: v["mean"] for k, v in by_sub.items()}}
        if crit.relative_to:
            base = by_sub.get(crit.relative_to)
            item["baseline_value"] = base["mean"] if base else None
            item["source_value"] = stats["mean"] if stats else None
            item["stats"] = None
            if stats and base:
                a = subs[source]["seed_metrics"]
                b = subs[crit.relative_to]["seed_metrics"]
                item["stats"] = diff_stats([m[crit.reads] for m in a if crit.reads in m],
                                           [m[crit.reads] for m in b if crit.reads in m],
                                           seeds_of.get(source), seeds_of.get(crit.relative_to))
        out[crit.metric] = item
    return out


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.4g}"


def _weak_note(c: dict[str, Any]) -> str:
    ci = f" (95% CI {_fmt(c['ci95'][0])} to {_fmt(c['ci95'][1])})" if c.get("ci95") else ""
    return (f"{c['metric']} {_fmt(c['value'])}{ci} is {c['label']} (acceptable {_fmt(c['acceptable'])}, "
            f"failure {_fmt(c['failure'])})")


def assess(exp: Experiment, subs: dict[str, dict[str, Any]], stub: bool,
           assessment: dict[str, Any] | None = None) -> dict[str, Any]:
    """The verdict for one experiment from per-sub outcomes {sub: {status, seed_metrics: [..], seeds: [..]}}.

    Returns status, recommendation, notes, assessment (existing results.yaml shape) and per-criterion detail.
    Until every planned sub-experiment has a result the status is `partial` and the recommendation
    `investigate`, whatever the criteria measured so far say. `assessment` is the results file's own
    assessment when another runner wrote it (see `achieved`).
    """
    statuses = {s: (subs.get(s) or {}).get("status", "not_run") for s in exp.sub_ids}
    failed = [s for s, st in statuses.items() if st == "failed"]
    skipped = [s for s, st in statuses.items() if st == "skipped"]
    pending = [s for s, st in statuses.items() if st == "not_run"]
    found = achieved(exp, subs, assessment)
    criteria = {}
    for crit in exp.criteria:
        item = judge(crit, found[crit.metric]["stats"])
        item.update({k: v for k, v in found[crit.metric].items() if k != "stats"})
        if crit.measure:
            item["metric_name"] = crit.measure
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
                "assessment": {"success_criteria_met": None, "confidence": "none",
                               "confidence_notes": "not assessed: sub-experiments failed"}}
    weak = [c["metric"] for c in measured if _RANK[c["level"]] >= 2]
    review = [c["metric"] for c in measured if c["borderline"] or c["near_threshold"]]
    missing = [c["metric"] for c in criteria.values() if c["level"] == "not_measured"]
    if total == 0:
        rec, notes = "investigate", "no success criteria are defined: nothing to judge the results against"
    elif not measured:
        rec, notes = "investigate", (f"no criterion could be judged: no sub-experiment reported "
                                     f"{', '.join(_reads(exp, m) for m in missing)}")
    elif len(measured) == total and not weak:
        rec, notes = "proceed", "every criterion is at least acceptable"
    elif weak and all(_RANK[criteria[m]["best_level"]] <= 1 for m in weak):
        rec = "investigate"
        notes = "borderline: " + "; ".join(f"the 95% CI of {m} ({_fmt(criteria[m]['ci95'][0])} to "
                                           f"{_fmt(criteria[m]['ci95'][1])}) straddles acceptable "
                                           f"{_fmt(criteria[m]['acceptable'])}" for m in weak) + \
            ". Neither proceed nor pivot: run more seeds"
    elif weak and share > 0.5:
        rec = "pivot"
        notes = "; ".join(_weak_note(criteria[m]) for m in weak)
    else:
        rec, notes = "investigate", f"too few criteria measured ({len(measured)}/{total}; missing: {', '.join(missing)})"
    confidence = "high" if share == 1 else ("medium" if share >= 0.5 else "low")
    if confidence == "high" and review:
        confidence = "medium"
    conf_notes = f"{len(measured)}/{total} criteria measured"
    if review:
        conf_notes += "; flagged for human review (borderline interval or within 5% of a threshold): " + \
                      ", ".join(review)
    unsourced = [c["metric"] for c in measured if c.get("rule") == "assessment" and not c.get("source")]
    if unsourced:  # a value another runner's assessment states but no sub-experiment reports
        confidence = "medium" if confidence == "high" else confidence
        conf_notes += "; only in the results file's assessment (no sub-experiment reports it): " + ", ".join(unsourced)
    single = [c["metric"] for c in measured if c["n"] == 1]
    if single and len(exp.seeds) == 1:
        conf_notes += "; one seed per sub-experiment: no confidence interval"
    if not measured:
        confidence = "none"
        conf_notes = "no judged criterion: " + ("the plan defines no success_criteria" if total == 0 else
                                                f"none of {', '.join(missing)} was measured")
    status = "completed"
    if pending or skipped:
        # a run of some sub-experiments (--sub) or one stopped midway: nothing to recommend yet
        status, rec = "partial", "investigate"
        have = len(exp.sub_ids) - len(pending) - len(skipped)
        notes = (f"partial: {have} of {len(exp.sub_ids)} planned sub-experiments have a result (no result yet: "
                 f"{', '.join(pending + skipped)}); the recommendation waits until every one has run "
                 f"(so far: {notes})")
        confidence, conf_notes = "none", f"not assessed: {len(pending) + len(skipped)} sub-experiment(s) have no result"
    if stub:
        status, rec = "stub", "investigate"
        notes = "stub run: placeholder results from stub handlers, not evidence. Run without --stub."
        confidence, conf_notes = "none", "stub run"
    assessment_out: dict[str, Any] = {"success_criteria_met": (rec == "proceed") if total and status == "completed"
                                      else None}
    for metric, c in criteria.items():
        assessment_out[f"{metric}_achieved"] = c["value"]
    assessment_out.update(confidence=confidence, confidence_notes=conf_notes)
    return {"status": status, "recommendation": rec, "recommendation_notes": notes, "counts": counts,
            "criteria": criteria, "assessment": assessment_out, "review": review}


def _reads(exp: Experiment, metric: str) -> str:
    crit = next((c for c in exp.criteria if c.metric == metric), None)
    return crit.reads if crit and crit.reads != metric else metric
