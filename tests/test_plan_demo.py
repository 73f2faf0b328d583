"""The research part of `expkit demo`: stub check, a real run with one failure, --rerun-failed, FINDINGS.md."""

from __future__ import annotations

from expkit.plan.demo import run_demo


def test_run_demo_tells_the_whole_story(tmp_path):
    lines = []
    out = run_demo(tmp_path, lines.append)
    text = "\n".join(lines)
    assert out["stub"]["status"] == "stub" and out["stub"]["recommendation"] == "investigate"
    assert out["first"]["status"] == "failed" and list(out["first"]["failed"]) == ["e1_3"]
    assert [row["sub"] for row in out["rerun"]["ran"]] == ["e1_3"]
    assert out["rerun"]["status"] == "completed" and out["rerun"]["recommendation"] == "pivot"
    assert "Re-run them: expkit plan run c1-linear-sufficiency --rerun-failed" in text
    assert "Completed: 3  Failed: 0  Skipped: 0" in text
    assert out["plot"] and out["findings"].endswith("research/experiments/c1-linear-sufficiency/FINDINGS.md")
    assert "**Status: COMPLETED** · **Recommendation: PIVOT**" in open(out["findings"]).read()
    assert f"Findings: {out['findings']}" in text
