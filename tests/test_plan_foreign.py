"""Results written by another runner, judged by expkit: the `foreign` fixture against its answer key.

tests/fixtures/plans/foreign/ is a project in the layout research projects already use, whose results.yaml
files another runner wrote (metrics only under sub-experiments, status words such as passed_with_pivot,
completed_with_real_data, proceed_to_gate_3, pivoted, hand-written FINDINGS.md that contradict the results).
ANSWER.md beside it was written from those files before expkit ran on them; every expected value below comes
from it.
"""

from __future__ import annotations

import re

from fixtures.plans.projects import load_yaml, project

from expkit.plan.judged import unmet_dependencies
from expkit.plan.schema import load_plan

NOT_RECORDED = "not recorded (results written by another runner)"


def _files(proj):
    return {p: p.read_bytes() for p in (proj / "research").rglob("*.yaml")}


def test_findings_judge_the_other_runners_results_and_flag_the_contradictions(tmp_path, expkit):
    proj = project(tmp_path, "foreign")
    before = _files(proj)
    r = expkit("plan", "findings", "--all", "--json", cwd=proj)
    assert r.returncode == 0, r
    out = r.json()
    assert _files(proj) == before  # another runner's results.yaml and the plan are never rewritten

    exp_dir = proj / "research" / "experiments"
    c1 = (exp_dir / "c1-feature-sufficiency" / "FINDINGS.md").read_text()
    lines = c1.splitlines()
    generated = next(i for i, line in enumerate(lines, 1) if line.startswith("**Status: "))
    assert lines[generated - 1] == "**Status: COMPLETED** · **Recommendation: PIVOT** · Confidence: high"
    # the criteria table is filled, each value with the sub-experiment it came from and why
    assert "| abs_rel | lower | 0.1 | 0.15 | 0.25 | 0.118 | e1_4 (last) | ☑️ acceptable |" in c1
    assert "| delta1 | higher | 0.92 | 0.8 | 0.6 | 0.86 | e1_2 (its assessment) | ☑️ acceptable |" in c1
    assert "| edge_f1 | higher | 0.7 | 0.6 | 0.4 | 0.52 | e1_3 (from:) | ❌ below acceptable |" in c1
    assert "| latency_ms | lower | 20 | 35 | 60 | 28 | e1_1 | ☑️ acceptable |" in c1
    assert "- delta1: e1_2 = 0.86, e1_4 = 0.81" in c1 and "- edge_f1: e1_3 = 0.52, e1_4 = 0.66" in c1
    assert "3 of 4 criteria are at least acceptable. Recommendation **pivot**" in c1
    # the hand-written "Recommendation: Proceed" (line 5, kept) is flagged in the header, naming both lines
    assert lines[4] == "**Recommendation:** Proceed to Phase 2"
    assert (f'> ⚠ Line 5 (written by hand) says "Recommendation: Proceed to Phase 2", but the judged results say '
            f"COMPLETED / PIVOT (line {generated}).") in c1
    assert "Line 3" not in c1  # "Status: Completed" agrees with the judged status
    warnings = out["warnings"]
    assert (f'c1-feature-sufficiency: FINDINGS.md line 5 (written by hand) says "Recommendation: Proceed to Phase 2" '
            f"but the judged result at line {generated} is COMPLETED / PIVOT") in warnings
    # no empty facts: what the other runner did not record says so
    assert f"- Commit: {NOT_RECORDED}" in c1 and f"- Seeds: {NOT_RECORDED}" in c1
    assert "- Written by: modal-3f9a21c0" in c1

    c2 = (exp_dir / "c2-adapter" / "FINDINGS.md").read_text()
    assert "**Status: FAILED** · **Recommendation: INVESTIGATE** · Confidence: none" in c2
    assert "| param_efficiency | higher | 0.9 | 0.8 | 0.6 | 1.081 | e2_1 (its assessment) | ✅ target met |" in c2
    assert "RuntimeError: expected scalar type Float but found Double" in c2
    flagged = [w for w in warnings if w.startswith("c2-adapter: FINDINGS.md line")]
    assert [w.split(" (written")[0] for w in flagged] == ["c2-adapter: FINDINGS.md line 3",
                                                          "c2-adapter: FINDINGS.md line 4"]

    c3 = (exp_dir / "c3-prediction" / "FINDINGS.md").read_text()
    assert "**Status: PARTIAL** · **Recommendation: INVESTIGATE** · Confidence: none" in c3
    assert "status completed_with_real_data (completed) and recommendation proceed_to_gate_3 (proceed)" in c3
    assert "- **e3_1** (as `e3_1_copy_baseline`) (completed)" in c3
    assert "- **e3_3b** (as `e3_3b_flow_warp_long`) (stopped_early: no result)" in c3
    assert "| next_abs_rel | lower | 0.12 | 0.16 | 0.22 | 0.24 | e3_2 (last) | ⛔ at or past failure |" in c3

    q1 = (exp_dir / "q1-alignment" / "FINDINGS.md").read_text()
    assert "**Status: COMPLETED** · **Recommendation: PROCEED** · Confidence: high" in q1
    assert "2 of 2 criteria are at least acceptable" in q1

    for text in (c1, c2, c3, q1, (proj / "research" / "FINDINGS.md").read_text()):
        assert "``" not in text.replace("```", "")  # never an empty code span
        assert "0 of 0" not in text and not re.search(r"\| +\|", text)  # no empty table cell


def test_status_maps_status_words_and_keeps_dependents_of_passed_experiments_unblocked(tmp_path, expkit):
    proj = project(tmp_path, "foreign")
    r = expkit("plan", "status", "--json", cwd=proj)
    assert r.returncode == 0, r
    st = r.json()
    by_id = {e["id"]: e for e in st["experiments"]}
    assert {e: s["blocked_by"] for e, s in by_id.items()} == {
        "c1-feature-sufficiency": [], "q1-alignment": [], "p2-multiscale": [], "c2-adapter": [],
        "c3-prediction": [], "q4-data-scale": [], "q5-horizon": [], "c4-planning": ["q5-horizon"]}
    assert [g["open"] for g in st["gates"]] == [True, True, True]
    c3 = by_id["c3-prediction"]
    assert (c3["plan_status"], c3["plan_status_mapped"], c3["plan_status_shown"]) == \
        ("passed_with_pivot", "passed", "passed_with_pivot (passed)")
    assert c3["claimed"] == {"status": "completed_with_real_data", "status_mapped": "completed",
                             "recommendation": "proceed_to_gate_3", "recommendation_mapped": "proceed"}
    assert (c3["result_status"], c3["recommendation"], c3["confidence"]) == ("partial", "investigate", "none")
    assert by_id["c1-feature-sufficiency"]["plan_status_shown"] == "pivoted"
    assert (by_id["c2-adapter"]["result_status"], by_id["c2-adapter"]["passed"]) == ("failed", True)
    assert "the plan says passed but the last judged result is failed / investigate" in by_id["c2-adapter"]["stale"]
    assert by_id["q5-horizon"]["plan_status_shown"] == "deferred (unknown word)"
    assert any("plan status 'deferred' is not a word expkit knows" in w for w in st["warnings"])
    text = expkit("plan", "status", cwd=proj)
    assert "warning: q5-horizon: plan status 'deferred'" in text.stderr
    assert "c3-prediction  plan:passed_with_pivot (passed)  last run: partial" in text.stdout
    assert "c4-planning  plan:not_started  last run: not run  [blocked by q5-horizon]" in text.stdout

    plan = load_plan(proj / "research" / "research_plan.yaml")
    assert unmet_dependencies(plan, plan.get("q4-data-scale")) == []
    assert unmet_dependencies(plan, plan.get("c3-prediction")) == []
    refused = expkit("plan", "run", "c4-planning", cwd=proj)
    assert refused.returncode == 2 and "c4-planning depends on q5-horizon" in refused.stderr


def test_a_unique_prefix_names_the_experiment(tmp_path, expkit):
    proj = project(tmp_path, "foreign")
    one = expkit("plan", "status", "c1", "--json", cwd=proj)
    assert one.returncode == 0, one
    assert [e["id"] for e in one.json()["experiments"]] == ["c1-feature-sufficiency"]
    assert "e1_4: completed (another runner)" in expkit("plan", "status", "c1", cwd=proj).stdout
    ambiguous = expkit("plan", "status", "c", cwd=proj)
    assert ambiguous.returncode == 2
    assert "error: 'c' could be any of 4 experiments: c1-feature-sufficiency, c2-adapter" in ambiguous.stderr
    assert "hint: give more of the experiment id" in ambiguous.stderr
    unknown = expkit("plan", "status", "c9", cwd=proj)
    assert unknown.returncode == 2 and "error: no experiment 'c9'" in unknown.stderr and "hint:" in unknown.stderr
    assert expkit("plan", "findings", "q1", cwd=proj).returncode == 0
    assert (proj / "research" / "experiments" / "q1-alignment" / "FINDINGS.md").exists()


def test_expkit_reruns_what_the_other_runner_left_failed_and_judges_both_together(tmp_path, expkit):
    proj = project(tmp_path, "foreign")
    handlers = proj / "handlers" / "c2"
    handlers.mkdir(parents=True)
    (handlers / "__init__.py").write_text(
        "def fixed(runner):\n"
        "    return {'finding': 'fixed and re-run', 'metrics': {'distill_gain': 0.01}, 'artifacts': []}\n\n\n"
        "def get_handlers():\n"
        "    return {s: fixed for s in ('e2_1', 'e2_2', 'e2_3', 'e2_4')}\n")
    r = expkit("plan", "run", "c2-adapter", "--rerun-failed", "--json", cwd=proj)
    assert r.returncode == 0, r
    out = r.json()
    # only the two sub-experiments the other runner left failed ran; its completed ones count as they are
    assert [row["sub"] for row in out["ran"]] == ["e2_3", "e2_4"]
    assert (out["status"], out["recommendation"]) == ("completed", "proceed")
    assert out["criteria"]["param_efficiency"]["source"] == "e2_1"
    doc = load_yaml(proj / "research" / "experiments" / "c2-adapter" / "results.yaml")
    assert doc["results"]["experiments"]["e2_1"]["metrics"]["param_efficiency"] == 1.0815  # kept as written
    assert doc["results"]["experiments"]["e2_3"]["status"] == "completed"
    assert doc["expkit"]["earlier_results_by"] == "modal-0b5d7e44" and doc["claim"].startswith("A 5M-parameter")
    assert "the plan says passed but" not in expkit("plan", "status", cwd=proj).stdout  # c2 is no longer stale


def test_nothing_judged_is_confidence_none_never_the_other_runners_high(tmp_path, expkit):
    proj = project(tmp_path, "foreign")
    results = proj / "research" / "experiments" / "q1-alignment" / "results.yaml"
    results.write_text(results.read_text().replace("linear_probe_r2: 0.5812", "probe_r2: 0.5812")
                       .replace("cka: 0.6107", "cka_score: 0.6107"))
    # a value only the other runner's assessment states is used, named as such, and never at high confidence
    assert expkit("plan", "findings", "q1", cwd=proj).returncode == 0
    text = (proj / "research" / "experiments" / "q1-alignment" / "FINDINGS.md").read_text()
    assert "| cka | higher | 0.5 | 0.4 | 0.2 | 0.61 | the results file's assessment (no sub-experiment reports it) |" \
        in text
    assert "· Confidence: medium" in text
    results.write_text(results.read_text().replace("_achieved:", "_claimed:"))
    r = expkit("plan", "findings", "q1", cwd=proj)
    assert r.returncode == 0, r
    text = (proj / "research" / "experiments" / "q1-alignment" / "FINDINGS.md").read_text()
    assert ("**Status: COMPLETED** · **Recommendation: INVESTIGATE** · Confidence: none (no judged criterion: none "
            "of linear_probe_r2, cka was measured)") in text
    assert "No criterion could be judged: no sub-experiment reported linear_probe_r2, cka. Confidence: none." in text
    assert "0 of 2" not in text and "Confidence: high" not in text
    st = expkit("plan", "status", "q1", cwd=proj).stdout
    assert "no criterion judged (confidence none)" in st


def test_odd_shapes_and_yaml_12_numbers_in_another_runners_file(tmp_path, expkit):
    proj = project(tmp_path, "foreign")
    results = proj / "research" / "experiments" / "q1-alignment" / "results.yaml"
    results.write_text("experiment_id: q1-alignment\nstatus: 3\nresults:\n  experiments:\n"
                       "    eq1_1: {status: completed, metrics: 'r2 was 0.58'}\n"
                       "    eq1_2: {status: completed, metrics: {cka: 6.1e-1}}\n"
                       "    eq1_9: {status: completed, metrics: {cka: 0.9}}\n"
                       "assessment: [not, a, mapping]\nrecommendation: {proceed: true}\n")
    r = expkit("plan", "findings", "q1", "--json", cwd=proj)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r
    text = (proj / "research" / "experiments" / "q1-alignment" / "FINDINGS.md").read_text()
    assert "| cka | higher | 0.5 | 0.4 | 0.2 | 0.61 | eq1_2 | ✅ target met |" in text  # 6.1e-1 is a number
    assert any("eq1_9, which the plan does not list" in w for w in r.json()["warnings"])
    assert expkit("plan", "status", "--json", cwd=proj).returncode == 0
