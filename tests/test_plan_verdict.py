"""Criteria -> verdict: levels, confidence intervals, 5% review flags, proceed / pivot / investigate."""

from __future__ import annotations

import pytest

from expkit.plan.schema import Criterion, Experiment, SubExperiment
from expkit.plan.verdict import assess, judge, level, summarize

LOWER = Criterion("loss", target=0.25, acceptable=0.35, failure=0.45, direction="lower")
HIGHER = Criterion("iou", target=0.75, acceptable=0.6, failure=0.5, direction="higher")


def exp(criteria, subs=("a", "b"), seeds=(0,)):
    return Experiment(id="c1-x", raw={}, subs=[SubExperiment(s) for s in subs], criteria=list(criteria),
                      dependencies=[], seeds=list(seeds), timeout=None)


def done(**metrics_by_sub):
    return {sub: {"status": "completed", "seed_metrics": [m] if isinstance(m, dict) else m}
            for sub, m in metrics_by_sub.items()}


@pytest.mark.parametrize("value, expected", [(0.2, "target_met"), (0.25, "target_met"), (0.3, "acceptable"),
                                             (0.4, "below_acceptable"), (0.45, "failure"), (0.9, "failure")])
def test_levels_for_lower_is_better(value, expected):
    assert level(value, LOWER) == expected


@pytest.mark.parametrize("value, expected", [(0.8, "target_met"), (0.65, "acceptable"), (0.55, "below_acceptable"),
                                             (0.5, "failure"), (0.1, "failure")])
def test_levels_for_higher_is_better(value, expected):
    assert level(value, HIGHER) == expected


def test_proceed_when_every_criterion_is_at_least_acceptable():
    v = assess(exp([LOWER, HIGHER]), done(a={"loss": 0.3}, b={"iou": 0.8}), stub=False)
    assert (v["status"], v["recommendation"]) == ("completed", "proceed")
    assert v["assessment"]["success_criteria_met"] is True
    assert v["assessment"]["loss_achieved"] == 0.3 and v["assessment"]["confidence"] == "high"


def test_pivot_is_a_result_when_a_measured_criterion_falls_short():
    v = assess(exp([LOWER, HIGHER]), done(a={"loss": 0.3}, b={"iou": 0.52}), stub=False)
    assert (v["status"], v["recommendation"]) == ("completed", "pivot")
    assert "iou 0.52 is below acceptable" in v["recommendation_notes"]


def test_investigate_when_too_few_criteria_are_measured():
    v = assess(exp([LOWER, HIGHER]), done(a={"loss": 0.9}, b={}), stub=False)
    assert v["recommendation"] == "investigate" and v["assessment"]["confidence"] == "medium"
    assert "too few criteria measured (1/2" in v["recommendation_notes"]


def test_a_failed_sub_experiment_means_no_assessment():
    subs = done(a={"loss": 0.1, "iou": 0.9})
    subs["b"] = {"status": "failed", "seed_metrics": []}
    v = assess(exp([LOWER, HIGHER]), subs, stub=False)
    assert (v["status"], v["recommendation"]) == ("failed", "investigate")
    assert v["assessment"]["success_criteria_met"] is None


def test_stub_results_never_proceed():
    v = assess(exp([LOWER, HIGHER]), done(a={"loss": 0.1}, b={"iou": 0.9}), stub=True)
    assert (v["status"], v["recommendation"]) == ("stub", "investigate")


def test_the_last_sub_counts_unless_from_names_one():
    e = exp([LOWER])
    assert assess(e, done(a={"loss": 0.1}, b={"loss": 0.4}), False)["criteria"]["loss"]["value"] == 0.4
    named = Criterion("loss", 0.25, 0.35, 0.45, "lower", source="a")
    v = assess(exp([named]), done(a={"loss": 0.1}, b={"loss": 0.4}), False)
    assert v["criteria"]["loss"]["value"] == 0.1 and v["criteria"]["loss"]["by_sub"] == {"a": 0.1, "b": 0.4}


def test_values_within_5_percent_of_a_threshold_are_flagged():
    v = assess(exp([HIGHER], subs=("a",)), done(a={"iou": 0.61}), False)
    assert v["criteria"]["iou"]["near_threshold"] == "acceptable"
    assert v["review"] == ["iou"] and v["assessment"]["confidence"] == "medium"


def test_confidence_interval_must_clear_the_threshold():
    tight = summarize([0.7, 0.71, 0.69])
    assert judge(HIGHER, tight)["level"] == "acceptable" and not judge(HIGHER, tight)["borderline"]
    wide = summarize([0.5, 0.8, 0.95])  # mean 0.75 = target, but the interval reaches below failure
    out = judge(HIGHER, wide)
    assert out["level"] == "failure" and out["borderline"] is True


def test_summary_statistics():
    s = summarize([1.0, 2.0, 3.0])
    assert s["mean"] == 2.0 and s["std"] == 1.0
    assert s["ci95"] == pytest.approx([2.0 - 4.303 / 3 ** 0.5, 2.0 + 4.303 / 3 ** 0.5])
    assert summarize([float("nan")])["n"] == 0 and summarize([5.0])["ci95"] is None


def test_borderline_interval_is_neither_proceed_nor_pivot_but_a_firm_miss_is_a_pivot():
    e = exp([HIGHER], subs=("a",), seeds=(0, 1, 2))
    straddles = {"a": {"status": "completed", "seed_metrics": [{"iou": 0.55}, {"iou": 0.62}, {"iou": 0.7}]}}
    v = assess(e, straddles, False)
    assert v["recommendation"] == "investigate" and "straddles acceptable 0.6" in v["recommendation_notes"]
    firm = {"a": {"status": "completed", "seed_metrics": [{"iou": 0.52}, {"iou": 0.53}, {"iou": 0.54}]}}
    v = assess(e, firm, False)
    assert v["recommendation"] == "pivot" and "95% CI" in v["recommendation_notes"]


# ---------------------------------------------------------------- criteria relative to another sub-experiment

GAIN = Criterion("lstm_vs_gru", target=0.02, acceptable=0.0, failure=-0.02, direction="higher", source="lstm",
                 relative_to="gru", measure="acc")


def seeded(**values_by_sub):
    return {sub: {"status": "completed", "seed_metrics": [{"acc": v} for v in vals], "seeds": list(range(len(vals)))}
            for sub, vals in values_by_sub.items()}


def test_a_relative_criterion_judges_the_paired_delta_and_its_interval():
    e = exp([GAIN], subs=("gru", "lstm"), seeds=(0, 1, 2))
    v = assess(e, seeded(gru=[0.80, 0.82, 0.78], lstm=[0.83, 0.855, 0.81]), stub=False)
    c = v["criteria"]["lstm_vs_gru"]
    # per-seed deltas 0.03, 0.035, 0.03: mean 0.0317, the whole 95% CI above the 0.02 target
    assert c["value"] == pytest.approx(0.031667, abs=1e-5) and c["n"] == 3
    assert c["ci95"][0] > 0.02 and c["level"] == "target_met" and v["recommendation"] == "proceed"
    assert (c["source"], c["relative_to"], c["metric_name"]) == ("lstm", "gru", "acc")
    assert c["source_value"] == pytest.approx(0.831667, abs=1e-5) and c["baseline_value"] == pytest.approx(0.8)


def test_a_delta_inside_seed_noise_is_borderline_not_a_win():
    e = exp([GAIN], subs=("gru", "lstm"), seeds=(0, 1, 2))
    v = assess(e, seeded(gru=[0.80, 0.86, 0.74], lstm=[0.84, 0.80, 0.80]), stub=False)
    c = v["criteria"]["lstm_vs_gru"]
    assert c["value"] == pytest.approx(0.0133, abs=1e-3) and c["ci95"][0] < 0.0 < c["ci95"][1]
    assert c["borderline"] and v["recommendation"] != "proceed"


def test_unpaired_seeds_use_welch_and_one_seed_has_no_interval():
    from expkit.plan.verdict import diff_stats

    d = diff_stats([0.9, 0.92, 0.91, 0.93], [0.85, 0.86, 0.84], [0, 1, 2, 3], [0, 1, 2])
    assert d["paired"] is False and d["mean"] == pytest.approx(0.065) and d["ci95"][0] > 0.03
    one = assess(exp([GAIN], subs=("gru", "lstm")), seeded(gru=[0.8], lstm=[0.79]), stub=False)
    assert one["criteria"]["lstm_vs_gru"]["ci95"] is None
    assert one["criteria"]["lstm_vs_gru"]["level"] == "below_acceptable"


def test_zero_judged_criteria_means_confidence_none_with_the_reason():
    v = assess(exp([LOWER, HIGHER]), done(a={"other": 1.0}, b={}), stub=False)
    assert v["recommendation"] == "investigate" and v["assessment"]["confidence"] == "none"
    assert v["assessment"]["confidence_notes"] == "no judged criterion: none of loss, iou was measured"
    assert "no sub-experiment reported loss, iou" in v["recommendation_notes"]
    none = assess(exp([]), done(a={"loss": 1.0}, b={}), stub=False)
    assert none["assessment"]["confidence"] == "none" and "defines no success_criteria" in \
        none["assessment"]["confidence_notes"]
