"""FINDINGS.md: rendered from results.yaml, researcher text outside expkit's markers survives re-rendering."""

from __future__ import annotations

from fixtures.plans.projects import project

from expkit.report.findings import merge


def test_researcher_text_outside_the_markers_is_kept(tmp_path, expkit):
    proj = project(tmp_path, "example")
    exp_dir = proj / "research" / "experiments" / "c1-linear-sufficiency"
    first = expkit("plan", "run", "c1-linear-sufficiency", cwd=proj)
    assert first.returncode == 1
    findings = exp_dir / "FINDINGS.md"
    text = findings.read_text()
    assert "**Status: FAILED** · **Recommendation: INVESTIGATE**" in text
    assert "RuntimeError: feature cache was cold" in text
    note = "\n## My interpretation\n\nThe clusters overlap by construction; C2 should fix it.\n"
    findings.write_text(text.replace("<!-- expkit:begin metrics -->", note + "\n<!-- expkit:begin metrics -->"))
    findings.write_text(findings.read_text() + "\nSigned: A. Researcher\n")

    again = expkit("plan", "run", "c1-linear-sufficiency", "--rerun-failed", cwd=proj)
    assert again.returncode == 0, again
    text = findings.read_text()
    assert note in text and text.rstrip().endswith("Signed: A. Researcher")
    assert "**Status: COMPLETED** · **Recommendation: PIVOT**" in text
    assert "| accuracy | higher | 0.9 | 0.8 | 0.6 |" in text and "❌ below acceptable" in text
    assert "| mse | lower | 0.05 | 0.1 | 0.3 |" in text and "✅ target met" in text
    assert "![metric curves](plots/metrics.png)" in text and (exp_dir / "plots" / "metrics.png").exists()
    assert "[artifacts/e1_1_fit.json](artifacts/e1_1_fit.json)" in text
    assert "- Commit: `" in text and "Seeds: 0" in text
    assert "RuntimeError" not in text  # the failure is fixed, so it is gone from the report
    rollup = (proj / "research" / "FINDINGS.md").read_text()
    assert "| C1: A linear model is sufficient (`c1-linear-sufficiency`) | 1 | pivoted | completed | pivot | 2/3" \
        in rollup  # the plan's status line followed the verdict
    assert "waiting on c1-linear-sufficiency" in rollup

    # the findings command re-renders the same thing from results.yaml alone
    before = findings.read_text()
    r = expkit("plan", "findings", "--all", cwd=proj)
    assert r.returncode == 0 and findings.read_text() == before


def test_merge_replaces_only_marked_sections_and_appends_new_ones():
    old = "intro\n<!-- expkit:begin a -->\nold a\n<!-- expkit:end a -->\nmiddle\n"
    new = "<!-- expkit:begin a -->\nnew a\n<!-- expkit:end a -->\n\n<!-- expkit:begin b -->\nb\n<!-- expkit:end b -->\n"
    out = merge(old, new)
    assert out.startswith("intro\n<!-- expkit:begin a -->\nnew a\n<!-- expkit:end a -->\nmiddle\n")
    assert out.endswith("<!-- expkit:begin b -->\nb\n<!-- expkit:end b -->\n")


def test_hand_written_claims_are_read_outside_code_and_markers_only():
    from expkit.report.claims import contradictions, hand_claims

    text = ("# Notes\n\n**Status:** ✅ Completed\n> Recommendation: proceed to phase 2\n\n```yaml\nstatus: failed\n```\n"
            "    recommendation: pivot\n- Verdict: PIVOT (edges)\nStatus of the cluster: fine\n"
            "<!-- expkit:begin header -->\n**Status: COMPLETED** · **Recommendation: PIVOT**\n"
            "Recommendation: proceed\n<!-- expkit:end header -->\nRecommendation: we should think\n")
    assert [(c["line"], c["kind"], c["word"]) for c in hand_claims(text)] == [
        (3, "status", "completed"), (4, "recommendation", "proceed"), (10, "recommendation", "pivot")]
    found = contradictions(text, "completed", "pivot")
    assert [(c["line"], c["generated_line"]) for c in found] == [(4, 13)]
    assert found[0]["warning"] == ('FINDINGS.md line 4 (written by hand) says "Recommendation: proceed to phase 2" '
                                   "but the judged result at line 13 is COMPLETED / PIVOT")
    assert contradictions(text, "stub", "investigate") == []
    assert [c["line"] for c in contradictions(text, "failed", "investigate")] == [3, 4, 10]
