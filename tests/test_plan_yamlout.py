"""results.yaml's writer: whatever plain data it writes, yaml.safe_load reads back unchanged."""

from __future__ import annotations

import math
import os

import yaml
from hypothesis import given, settings, strategies as st

from expkit.plan.yamlout import dump, dump_reusing

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
data = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids,
                                                                                         max_size=4), max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=12), data, max_size=6))
def test_round_trip(doc):
    assert yaml.safe_load(dump(doc)) == doc


def test_special_values_and_readable_plain_strings():
    assert yaml.safe_load(dump({"A\n": None, "b\n": "c\n"})) == {"A\n": None, "b\n": "c\n"}
    text = dump({"status": "completed", "nan": math.nan, "inf": -math.inf, "yes": "yes", "path": "artifacts/a.json",
                 "tb": "Traceback\n  line"})
    assert "status: completed\n" in text and "path: artifacts/a.json\n" in text
    back = yaml.safe_load(text)
    assert math.isnan(back["nan"]) and back["inf"] == -math.inf and back["yes"] == "yes"
    assert back["tb"] == "Traceback\n  line"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["a", "b", "results", "expkit"]),
                                st.dictionaries(st.sampled_from(["x", "y", "runs"]), data, max_size=3) | data,
                                max_size=4), min_size=1, max_size=5))
def test_reusing_what_was_rendered_writes_the_same_text(docs):
    """A document saved again and again (results.yaml after every unit) reads the same as written afresh."""
    reuse: dict = {}
    for doc in docs:
        text, reuse = dump_reusing(doc, lambda v: v, reuse)
        assert text == dump(doc)


def test_results_saved_after_every_unit_are_redacted_like_a_fresh_write(tmp_path, monkeypatch):
    """results.yaml is rendered only where it changed, yet every save reads as the whole document redacted afresh:
    entries changed, added and removed, a secret of the environment that changes between saves, and a URL password
    learned from a new entry that an entry written earlier also contains."""
    from expkit.plan.results import save
    from expkit.redact import Redactor, secret_values

    def fresh(doc):
        return dump(Redactor(secret_values(os.environ)).strings(doc))

    path = tmp_path / "results.yaml"
    monkeypatch.setenv("EXAMPLE_API_KEY", "sk-first-secret-value")
    doc = {"status": "in_progress", "results": {"experiments": {}}, "expkit": {"runs": {}}}
    for i in range(5):
        doc["results"]["experiments"][f"s{i}"] = {"status": "completed", "finding": f"loss {i} with sk-first-secret-value"}
        doc["expkit"]["runs"][f"s{i}"] = [{"seed": 0, "status": "succeeded", "metrics": {"loss": i / 3}}]
        save(path, doc)
        assert path.read_text() == fresh(doc)
    assert "sk-first-secret-value" not in path.read_text()
    doc["results"]["experiments"]["s1"]["finding"] = "changed"
    del doc["expkit"]["runs"]["s2"]
    save(path, doc)
    assert path.read_text() == fresh(doc) and yaml.safe_load(path.read_text())["results"]["experiments"]["s1"] == {
        "status": "completed", "finding": "changed"}

    monkeypatch.setenv("EXAMPLE_API_KEY", "loss 3")  # now a secret, in an entry rendered before
    save(path, doc)
    assert path.read_text() == fresh(doc) and "loss 3" not in path.read_text()

    doc["results"]["experiments"]["s0"]["error"] = "password hunter2-long-enough was refused"
    save(path, doc)
    doc["results"]["experiments"]["s4"]["error"] = "cannot reach https://user:hunter2-long-enough@db.example.com/x"
    save(path, doc)
    assert "hunter2-long-enough" not in path.read_text()  # learned from s4, masked in s0 too
    assert yaml.safe_load(path.read_text())["results"]["experiments"]["s4"]["finding"] == "loss 4 with ***"
