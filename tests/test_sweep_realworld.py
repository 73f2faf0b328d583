"""Real public W&B sweep configs (tests/realworld/sweeps/, sources and licences in SOURCES.tsv) dry-run as their
answer key says: sampled values inside the bounds the author wrote and passed the way W&B's agent passes them,
or refused with the precise reason the key names. benchmarks/realworld_sweeps.py prints the same as a scoreboard."""

from __future__ import annotations

import csv
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import realworld_sweeps  # noqa: E402

KEYS = realworld_sweeps.answers()


def test_the_corpus_has_30_wandb_configs_with_permissive_licences_at_pinned_commits():
    rows = list(csv.DictReader((realworld_sweeps.CORPUS / "SOURCES.tsv").open(), delimiter="\t"))
    files = {p.name for p in realworld_sweeps.CORPUS.glob("*.yaml")} - {"ANSWERS.yaml"}
    assert {r["file"] for r in rows} == files == set(KEYS)
    assert all(r["licence"] in ("MIT", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause") for r in rows)
    assert all(len(r["commit"]) == 40 for r in rows)
    assert sum(1 for k in KEYS.values() if k.get("wandb", True)) >= 30


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(KEYS))
def test_each_config_dry_runs_as_its_answer_key_says(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optuna warns about dict-valued categorical choices
        verdict = realworld_sweeps.judge(name, KEYS[name])
    assert verdict in ("accepted", "refused"), verdict
    expected = "accepted" if (KEYS[name].get("then") or KEYS[name]["as_is"]) == "ok" else "refused"
    assert verdict == expected
