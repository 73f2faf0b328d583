"""`expkit plan status/new/check`: where a plan stands, scaffolding a new experiment, pre-flight."""

from __future__ import annotations

import subprocess
import sys

from conftest import expkit_env
from fixtures.plans.projects import load_yaml, project


def test_status_shows_phases_gates_and_what_blocks_what(tmp_path, expkit):
    proj = project(tmp_path)
    st = expkit("plan", "status", "--json", cwd=proj).json()
    by_id = {e["id"]: e for e in st["experiments"]}
    assert by_id["lab-dep"]["blocked_by"] == ["lab-seeds"]
    assert st["phases"] == ["1", "2", "3"]
    assert st["gates"] == [{"id": "gate_a", "name": "Gate A", "experiments": ["lab-seeds"], "unlocks": "phase 3",
                            "plan_status": None, "open": False, "waiting_on": ["lab-seeds"]}]
    expkit("plan", "run", "lab-isolation", "--sub", "ok", cwd=proj)
    text = expkit("plan", "status", cwd=proj).stdout
    # one sub-experiment of seven ran: partial, nothing recommended yet, the dependency gate stays shut
    assert "lab-isolation  plan:in_progress  last run: partial -> investigate, criteria 1/1" in text
    assert "[blocked by lab-seeds]" in text and "gate_a (Gate A) -> phase 3: waiting on lab-seeds" in text
    one = expkit("plan", "status", "lab-isolation", cwd=proj).stdout
    assert "      ok: completed\n" in one and "      boom: not run\n" in one


def test_check_reports_each_line_with_a_fix(tmp_path, expkit):
    proj = project(tmp_path)
    r = expkit("plan", "check", "lab-isolation", cwd=proj)
    assert r.returncode == 1, r
    assert "pass  handler import: handlers.lab imports; registers after_boom" in r.stdout
    assert "FAIL  handlers registered: No handler registered for sub-experiment missing" in r.stdout
    assert "fix: add 'missing' to get_handlers() in" in r.stdout
    assert "pass  stub run" in r.stdout  # the stub replaces every handler, even misbehaving ones
    broken = proj / "handlers" / "lab" / "__init__.py"
    broken.write_text(broken.read_text() + "\nimport not_a_module_anywhere\n")
    r = expkit("plan", "check", "lab-seeds", "--json", cwd=proj)
    lines = {c["check"]: c for c in r.json()["checks"]}
    assert not lines["handler import"]["ok"]
    assert "No module named 'not_a_module_anywhere'" in lines["handler import"]["detail"]


def test_check_passes_on_the_example(tmp_path, expkit):
    proj = project(tmp_path, "example")
    r = expkit("plan", "check", "c1-linear-sufficiency", cwd=proj)
    assert r.returncode == 0, r
    assert r.stdout.strip().endswith("ready to run")


def test_new_scaffolds_a_runnable_experiment_and_keeps_the_plan_as_written(tmp_path, expkit):
    proj = project(tmp_path, "example")
    plan_file = proj / "research" / "research_plan.yaml"
    before = plan_file.read_text()
    r = expkit("plan", "new", "c3-deeper-model", cwd=proj)
    assert r.returncode == 0, r
    after = plan_file.read_text()
    assert after.startswith(before.split("gates:")[0].rstrip("\n"))  # comments and layout kept
    assert "# The demo's research plan" in after and after.rstrip().endswith('unlocks: "Phase 2"')
    entry = load_yaml(plan_file)["experiments"]["c3-deeper-model"]
    assert entry["sub_experiments"] == ["e3_1"] and "loss" in entry["success_criteria"]
    assert (proj / "research" / "experiments" / "c3-deeper-model.md").exists()
    assert (proj / "handlers" / "c3" / "__init__.py").exists()
    # its test passes, pre-flight passes, and a real run completes
    test = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "handlers/c3"], cwd=proj,
                          env=expkit_env(), capture_output=True, text=True, timeout=120)
    assert test.returncode == 0, test.stdout + test.stderr
    assert expkit("plan", "check", "c3-deeper-model", cwd=proj).returncode == 0
    run = expkit("plan", "run", "c3-deeper-model", "--json", cwd=proj)
    assert run.returncode == 0 and run.json()["status"] == "completed"
    again = expkit("plan", "new", "c3-deeper-model", cwd=proj)
    assert again.returncode == 2 and "already in" in again.stderr
    assert expkit("plan", "new", "../evil", cwd=proj).returncode == 2


def test_new_in_an_empty_project_creates_the_plan(tmp_path, expkit):
    r = expkit("plan", "new", "c1-first-claim", "--sub", "e1_1,e1_2", cwd=tmp_path)
    assert r.returncode == 0, r
    assert "only e1_1 has an example handler" in r.stdout
    plan = load_yaml(tmp_path / "research" / "research_plan.yaml")
    assert plan["experiments"]["c1-first-claim"]["sub_experiments"] == ["e1_1", "e1_2"]
    assert expkit("plan", "validate", cwd=tmp_path).returncode == 0


def test_findings_needs_results_first(tmp_path, expkit):
    proj = project(tmp_path)
    r = expkit("plan", "findings", "lab-seeds", cwd=proj)
    assert r.returncode == 2 and "expkit plan run lab-seeds" in r.stderr
    assert expkit("plan", "findings", cwd=proj).returncode == 2


def test_validate_warns_about_the_todos_plan_new_left(tmp_path, expkit):
    assert expkit("plan", "new", "c1-first-claim", cwd=tmp_path).returncode == 0
    r = expkit("plan", "validate", cwd=tmp_path)
    assert r.returncode == 0, r  # it validates: these are warnings, not errors
    plan_file = tmp_path / "research" / "research_plan.yaml"
    assert f"warning: {plan_file}:11:19: placeholder left to fill in: description: \"TODO: what this experiment" \
        in r.stderr
    assert "research/experiments/c1-first-claim.md:3:" in r.stderr and "handlers/c1/__init__.py:9:" in r.stderr
    assert "hint: replace the TODO" in r.stderr and "7 warning(s)" in r.stdout
    data = expkit("plan", "validate", "--json", cwd=tmp_path).json()
    assert data["ok"] and {(w["file"].split("/")[-1], w["line"]) for w in data["warnings"]} >= {
        ("research_plan.yaml", 3), ("research_plan.yaml", 11), ("research_plan.yaml", 14)}
    for path in (plan_file, tmp_path / "research" / "experiments" / "c1-first-claim.md",
                 tmp_path / "handlers" / "c1" / "__init__.py"):
        path.write_text(path.read_text().replace("TODO", "Done"))
    clean = expkit("plan", "validate", cwd=tmp_path)
    assert clean.returncode == 0 and "warning" not in clean.stderr + clean.stdout
