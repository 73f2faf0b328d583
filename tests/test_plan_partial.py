"""Partial and interrupted plan runs never overclaim; the plan's `status:` line follows a complete verdict.

A run of some sub-experiments (`--sub`) or one killed midway is `partial`/`in_progress` with recommendation
`investigate` until every planned sub-experiment has a result, and a dependency gate opens only on a complete
judged result (or `--force`). After a complete verdict the plan's status word changes on its one line; a word the
researcher chose is kept and shown as stale.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import expkit_env, git
from fixtures.plans.projects import load_yaml

PLAN = """\
# gatekeeping: a1 must pass before b1 may run
project: {name: gatekeep}
experiments:
  a1-base:
    name: "A1: base"
    status: not_started   # set by hand
    sub_experiments: [a_1, a_2, wait]
    success_criteria:
      score: {target: 0.9, acceptable: 0.8, failure: 0.5, direction: higher, from: a_1}
  b1-next:
    name: "B1: next"
    status: not_started
    sub_experiments: [b_1]
    success_criteria:
      score: {target: 0.9, acceptable: 0.8, failure: 0.5, direction: higher}
    dependencies: [a1-base]
  c1-mine:
    name: "C1: a word of my own"
    status: passed_with_pivot
    sub_experiments: [c_1]
    success_criteria:
      score: {target: 0.99, acceptable: 0.98, failure: 0.5, direction: higher}
"""

HANDLERS = """\
import os, pathlib, time


def score(value):
    def handler(runner):
        return {"finding": f"score {value}", "metrics": {"score": value}, "artifacts": []}
    return handler


def wait(runner):
    markers = os.environ.get("GATE_MARKERS")
    if markers:
        pathlib.Path(markers, ".wait.tmp").write_text(str(os.getpid()))  # atomically: never read half-written
        os.replace(pathlib.Path(markers, ".wait.tmp"), pathlib.Path(markers, "wait.started"))
        while not pathlib.Path(markers, "wait.release").exists():
            time.sleep(0.05)
    return {"finding": "waited", "metrics": {}, "artifacts": []}


def get_handlers():
    return {"a_1": score(0.95), "a_2": score(0.9), "wait": wait, "b_1": score(0.95), "c_1": score(0.9)}
"""


@pytest.fixture
def gate_project(tmp_path):
    proj = tmp_path / "gatekeep"
    (proj / "research").mkdir(parents=True)
    (proj / "research" / "research_plan.yaml").write_text(PLAN)
    for prefix in ("a1", "b1", "c1"):
        (proj / "handlers" / prefix).mkdir(parents=True)
        (proj / "handlers" / prefix / "__init__.py").write_text(HANDLERS)
    (proj / ".gitignore").write_text("runs/\n__pycache__/\n")
    git(proj, "init", "-q", "-b", "main")
    git(proj, "add", ".")
    git(proj, "commit", "-q", "-m", "initial")
    return proj


def _results(proj, exp_id):
    return load_yaml(proj / "research" / "experiments" / exp_id / "results.yaml")


def _wait_for(predicate, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_run_of_some_sub_experiments_is_partial_and_opens_no_gate(gate_project, expkit):
    proj = gate_project
    plan_file = proj / "research" / "research_plan.yaml"
    r = expkit("plan", "run", "a1-base", "--sub", "a_1", "--json", cwd=proj)
    assert r.returncode == 0, r
    out = r.json()
    # the one criterion measured so far is met, yet nothing is recommended: two planned subs have no result
    assert (out["status"], out["recommendation"]) == ("partial", "investigate")
    assert out["criteria"]["score"]["level"] == "target_met"
    assert "1 of 3 planned sub-experiments have a result (no result yet: a_2, wait)" in out["recommendation_notes"]
    doc = _results(proj, "a1-base")
    assert (doc["status"], doc["recommendation"]) == ("partial", "investigate")
    assert doc["assessment"]["confidence"] == "none" and doc["assessment"]["success_criteria_met"] is None
    findings = (proj / "research" / "experiments" / "a1-base" / "FINDINGS.md").read_text()
    assert "**Status: PARTIAL** · **Recommendation: INVESTIGATE** · Confidence: none" in findings
    assert plan_file.read_text() == PLAN  # nothing judged yet: the plan is not touched

    refused = expkit("plan", "run", "b1-next", cwd=proj)
    assert refused.returncode == 2 and "hint:" in refused.stderr
    assert "b1-next depends on a1-base, which has not reached proceed/passed (a1-base: plan status not_started; " \
        "last result partial, investigate)" in refused.stderr
    st = expkit("plan", "status", "--json", cwd=proj).json()
    assert {e["id"]: e["blocked_by"] for e in st["experiments"]}["b1-next"] == ["a1-base"]
    forced = expkit("plan", "run", "b1-next", "--force", "--json", cwd=proj)
    assert forced.returncode == 0 and "dependencies not met (run forced): a1-base" in forced.json()["warnings"]

    before = plan_file.read_text()  # b1-next's forced run was judged too: its status line says passed now
    assert "    status: passed\n    sub_experiments: [b_1]" in before
    done = expkit("plan", "run", "a1-base", "--rerun-failed", "--json", cwd=proj)
    assert done.returncode == 0, done
    assert (done.json()["status"], done.json()["recommendation"]) == ("completed", "proceed")
    # the plan's status followed the verdict: one word on one line, the comment and layout kept
    after = plan_file.read_text()
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert changed == [("    status: not_started   # set by hand", "    status: passed   # set by hand")]
    assert len(after.splitlines()) == len(PLAN.splitlines())
    assert "research_plan.yaml line 6: a1-base status not_started -> passed" in done.json()["notes"]
    gated = expkit("plan", "run", "b1-next", "--json", cwd=proj)
    assert gated.returncode == 0 and not any("dependencies not met" in w for w in gated.json()["warnings"])
    # the status words expkit wrote are bookkeeping, like FINDINGS.md: they do not make the code state dirty
    assert not any("uncommitted changes" in w for w in gated.json()["warnings"]), gated.json()["warnings"]
    plan_file.write_text(plan_file.read_text().replace("name: \"B1: next\"", "name: \"B1: next, edited\""))
    edited = expkit("plan", "run", "b1-next", "--json", cwd=proj)
    assert any("uncommitted changes" in w for w in edited.json()["warnings"])


def test_a_word_the_researcher_chose_is_kept_and_shown_stale(gate_project, expkit):
    proj = gate_project
    r = expkit("plan", "run", "c1-mine", cwd=proj)
    assert r.returncode == 0, r
    assert "keeps its status 'passed_with_pivot' (a word you chose)" in r.stdout
    assert (proj / "research" / "research_plan.yaml").read_text() == PLAN
    text = expkit("plan", "status", cwd=proj).stdout
    assert "c1-mine  plan:passed_with_pivot (passed)  last run: completed -> pivot" in text
    assert "stale plan status: the plan says passed_with_pivot but the last judged result is completed / pivot" \
        in text


@pytest.mark.timeout(120)
def test_a_runner_killed_midway_leaves_in_progress_and_investigate(gate_project, expkit, tmp_path):
    proj = gate_project
    markers = tmp_path / "markers"
    markers.mkdir()
    runner = subprocess.Popen([sys.executable, "-m", "expkit", "plan", "run", "a1-base"], cwd=proj,
                              env=expkit_env({"GATE_MARKERS": str(markers)}), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        started = _wait_for(lambda: (markers / "wait.started").exists() and markers / "wait.started",
                            "the last sub-experiment to start")
        child = int(started.read_text())
        runner.send_signal(signal.SIGKILL)  # no cleanup at all: the runner just vanishes
        runner.wait(timeout=30)

        def gone():  # a killed process nobody has reaped yet (a zombie) is gone too
            try:
                with open(f"/proc/{child}/stat") as fh:
                    return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
            except FileNotFoundError:
                return True
        _wait_for(gone, "the orphaned sub-experiment to die with its runner")
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    doc = _results(proj, "a1-base")
    # a_1 met its criterion before the kill; the results must still not read as a proceed
    assert doc["results"]["experiments"]["a_1"]["status"] == "completed"
    assert (doc["status"], doc["recommendation"]) == ("in_progress", "investigate")
    assert doc["recommendation_notes"].startswith("the run has not finished")
    refused = expkit("plan", "run", "b1-next", cwd=proj)
    assert refused.returncode == 2 and "depends on a1-base" in refused.stderr
    assert "a1-base  plan:not_started  last run: in_progress -> investigate" in \
        expkit("plan", "status", cwd=proj).stdout
    findings = expkit("plan", "findings", "a1-base", cwd=proj)
    assert findings.returncode == 0, findings
    text = (proj / "research" / "experiments" / "a1-base" / "FINDINGS.md").read_text()
    assert "**Status: IN PROGRESS** · **Recommendation: INVESTIGATE**" in text
