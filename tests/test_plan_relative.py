"""A-vs-B questions: a criterion relative to another sub-experiment, judged on the delta's 95% CI across seeds."""

from __future__ import annotations

from conftest import git
from fixtures.plans.projects import load_yaml

PLAN = """\
project: {name: rnn-bakeoff}
experiments:
  c1-lstm-vs-gru:
    name: "C1: LSTM beats GRU at equal parameters"
    seeds: 3
    sub_experiments: [gru, lstm]
    success_criteria:
      lstm_gain:
        metric: acc
        from: lstm
        relative_to: gru
        target: 0.02
        acceptable: 0.0
        failure: -0.02
        note: "accuracy points over the GRU trained on the same seeds"
"""

HANDLERS = """\
import random


def model(base):
    def handler(runner):
        noise = random.Random(runner.seed).gauss(0, 0.01)  # shared by both models: the seed is the data split
        return {"finding": "trained", "metrics": {"acc": base + noise}, "artifacts": []}
    return handler


def get_handlers():
    return {"gru": model(0.80), "lstm": model(0.83)}
"""


def test_lstm_vs_gru_is_judged_on_the_paired_delta(tmp_path, expkit):
    proj = tmp_path / "bakeoff"
    (proj / "research").mkdir(parents=True)
    (proj / "research" / "research_plan.yaml").write_text(PLAN)
    (proj / "handlers" / "c1").mkdir(parents=True)
    (proj / "handlers" / "c1" / "__init__.py").write_text(HANDLERS)
    git(proj, "init", "-q", "-b", "main")
    git(proj, "add", ".")
    git(proj, "commit", "-q", "-m", "initial")
    r = expkit("plan", "run", "c1", "--json", cwd=proj)
    assert r.returncode == 0, r
    c = r.json()["criteria"]["lstm_gain"]
    # the split noise is shared, so every per-seed delta is 0.03 and the interval is tight around it
    assert abs(c["value"] - 0.03) < 1e-9 and c["n"] == 3 and c["level"] == "target_met"
    assert (c["source"], c["relative_to"]) == ("lstm", "gru")
    assert r.json()["recommendation"] == "proceed"
    text = (proj / "research" / "experiments" / "c1-lstm-vs-gru" / "FINDINGS.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| lstm_gain (acc) |"))
    assert "| Δ 0.03 " in row and "| lstm − gru |" in row and "✅ target met" in row
    assert "(95% CI 0.03…0.03, n=3)" in row and " vs " in row  # both means, next to the delta
    doc = load_yaml(proj / "research" / "experiments" / "c1-lstm-vs-gru" / "results.yaml")
    assert doc["success_criteria"]["lstm_gain"]["relative_to"] == "gru"
