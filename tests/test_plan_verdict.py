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
