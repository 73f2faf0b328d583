"""results.yaml's writer: whatever plain data it writes, yaml.safe_load reads back unchanged."""

from __future__ import annotations

import math

import yaml
from hypothesis import given, settings, strategies as st

from expkit.plan.yamlout import dump

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
data = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids,
                                                                                         max_size=4), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=12), data, max_size=6))
def test_round_trip(doc):
    assert yaml.safe_load(dump(doc)) == doc


def test_special_values_and_readable_plain_strings():
    text = dump({"status": "completed", "nan": math.nan, "inf": -math.inf, "yes": "yes", "path": "artifacts/a.json",
                 "tb": "Traceback\n  line"})
    assert "status: completed\n" in text and "path: artifacts/a.json\n" in text
    back = yaml.safe_load(text)
    assert math.isnan(back["nan"]) and back["inf"] == -math.inf and back["yes"] == "yes"
    assert back["tb"] == "Traceback\n  line"
