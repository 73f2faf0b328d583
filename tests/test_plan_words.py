"""Status words as people write them: mapped by their start, the raw word always kept, unknown ones flagged."""

from __future__ import annotations

import pytest

from expkit.plan import words


@pytest.mark.parametrize("raw, mapped, gate", [
    ("passed", "passed", True), ("passed_with_pivot", "passed", True), ("PASSED", "passed", True),
    ("completed", "completed", True), ("completed_with_real_data", "completed", True),
    ("proceed_to_gate_3", "proceed", True), ("Proceed", "proceed", True),
    ("pivoted", "pivoted", False), ("pivot", "pivoted", False), ("failed", "failed", False),
    ("failed_sanity_check", "failed", False), ("in_progress", "in_progress", False),
    ("in progress", "in_progress", False), ("not_started", "not_started", False), ("blocked", "blocked", False),
])
def test_known_words_map_by_their_start(raw, mapped, gate):
    info = words.status(raw)
    assert (info["raw"], info["mapped"], info["gate"], info["known"]) == (raw, mapped, gate, True)


@pytest.mark.parametrize("raw", ["deferred", "validated", "waiting on data", "passive", "compass"])
def test_unknown_words_are_kept_as_written_and_never_open_a_gate(raw):
    info = words.status(raw)
    assert (info["mapped"], info["gate"], info["known"]) == (raw, False, False)
    assert words.shown(info) == f"{raw} (unknown word)"


def test_the_raw_word_is_shown_next_to_the_mapped_one():
    assert words.shown(words.status("passed_with_pivot")) == "passed_with_pivot (passed)"
    assert words.shown(words.status("completed")) == "completed"
    assert words.shown(words.status(None)) == "-"


@pytest.mark.parametrize("raw, mapped", [("proceed_to_gate_3", "proceed"), ("pivot", "pivot"),
                                         ("investigate_further", "investigate"), ("PIVOT", "pivot")])
def test_recommendations(raw, mapped):
    assert words.recommendation(raw)["mapped"] == mapped


@pytest.mark.parametrize("raw, mapped, known", [("completed", "completed", True), ("stopped_early", "not_run", True),
                                                ("failed", "failed", True), ("succeeded", "completed", True),
                                                ("exploded", "not_run", False)])
def test_sub_experiment_statuses_in_a_results_file(raw, mapped, known):
    assert words.sub_status(raw) == (mapped, known)
