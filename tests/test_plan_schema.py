"""research_plan.yaml: the format research projects already use loads unchanged; mistakes point at file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from expkit.errors import ExpkitError
from expkit.plan.schema import check_plan, load_plan

FIXTURES = Path(__file__).parent / "fixtures" / "plans"


def write(tmp_path, text):
    path = tmp_path / "research" / "research_plan.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_the_issue_example_loads_as_written():
    plan = load_plan(FIXTURES / "foresight" / "research" / "research_plan.yaml")
    exp = plan.get("c1-vlm-latent-sufficiency")
    assert exp.prefix == "c1"
    assert exp.sub_ids == ["e1_1", "e1_2", "e1_4"]
    assert [(c.metric, c.direction, c.target, c.acceptable, c.failure) for c in exp.criteria] == [
        ("lpips", "lower", 0.25, 0.35, 0.45), ("spatial_iou", "higher", 0.75, 0.6, 0.5)]
    assert plan.gates["gate_1"]["unlocks"] == "Phase 2"
    assert plan.root == FIXTURES / "foresight"


def test_unknown_keys_are_kept_and_richer_sub_entries_load():
    plan = load_plan(FIXTURES / "lab" / "research" / "research_plan.yaml")
    exp = plan.get("lab-isolation")
    assert exp.raw["reviewer"] == "kept-and-ignored"
    assert plan.raw["project"]["wandb_tags"] == ["kept-and-ignored"]
    hang = [s for s in exp.subs if s.id == "hang"][0]
    assert hang.timeout == 1
    assert [s for s in exp.subs if s.id == "after_boom"][0].depends_on == ["boom"]
    assert exp.criteria[0].direction == "higher"  # inferred: target 0.9 > failure 0.5


def test_misspelled_key_gets_did_you_mean_with_line_and_column(tmp_path, expkit):
    path = write(tmp_path, "project: {name: x}\nexperiments:\n  c1-a:\n    name: A\n    sub_experiments: [e1_1]\n"
                           "    sucess_criteria:\n      loss: {target: 0.1, failure: 0.5}\n")
    r = expkit("plan", "validate", path)
    assert r.returncode == 1, r
    assert f"{path}:6:5: unknown key 'sucess_criteria'" in r.stderr
    assert "did you mean 'success_criteria'?" in r.stderr
    assert "Traceback" not in r.stderr


def test_yaml_syntax_error_points_at_the_line(tmp_path, expkit):
    path = write(tmp_path, "project: {name: x}\nexperiments:\n  c1-a:\n    name: \"A\n    phase: 1\n")
    r = expkit("plan", "validate", path, "--json")
    assert r.returncode == 1
    problem = r.json()["problems"][0]
    assert problem["message"].startswith("YAML syntax error")
    assert problem["line"] >= 4


@pytest.mark.parametrize("text, message, line", [
    ("experiments:\n  - c1-a\n", "must be a mapping from experiment id", 2),
    ("experiments:\n  c1-a:\n    sub_experiments: [e1_1]\n    dependencies: [c0-bsae]\n  c0-base: {}\n",
     "depends on unknown experiment 'c0-bsae'", 4),
    ("experiments:\n  c1-a:\n    success_criteria:\n      acc: {target: 0.9, acceptable: 0.95, direction: higher}\n",
     "thresholds are out of order", 4),
    ("experiments:\n  c1-a:\n    success_criteria:\n      acc: {target: 0.9, direction: up}\n",
     "direction must be `lower` or `higher`", 4),
    ("experiments:\n  c1-a:\n    sub_experiments: [e1_1]\n    success_criteria:\n      acc: {target: 0.9, "
     "failure: 0.5, from: e1_9}\n", "`from: e1_9` is not a sub-experiment", 5),
    ("experiments:\n  c1-a:\n    seeds: many\n", "`seeds` must be a count", 3),
    ("experiments:\n  c1-a:\n    sub_experiments: [e1_1, e1_2]\n    success_criteria:\n      acc: {target: 0.02, "
     "failure: -0.01, relative_to: e1_9}\n", "`relative_to: e1_9` is not a sub-experiment", 5),
    ("experiments:\n  c1-a:\n    sub_experiments: [e1_1, e1_2]\n    success_criteria:\n      acc: {target: 0.02, "
     "failure: -0.01, from: e1_1, relative_to: e1_1}\n", "`relative_to` and `from` are both e1_1", 5),
])
def test_invalid_plans_name_the_problem_and_its_line(tmp_path, text, message, line):
    _, problems = check_plan(write(tmp_path, text))
    assert problems, "expected a problem"
    assert message in problems[0].message
    assert problems[0].line == line


def test_commands_refuse_an_invalid_plan_with_error_and_hint(tmp_path, expkit):
    write(tmp_path, "experiments:\n  c1-a:\n    sucess_criteria: {}\n")
    r = expkit("plan", "status", cwd=tmp_path)
    assert r.returncode == 2
    assert "error:" in r.stderr and "hint: did you mean 'success_criteria'?" in r.stderr


def test_unknown_experiment_gets_did_you_mean():
    plan = load_plan(FIXTURES / "foresight" / "research" / "research_plan.yaml")
    with pytest.raises(ExpkitError) as err:
        plan.get("c1-vlm-latent-sufficency")
    assert "c1-vlm-latent-sufficiency" in err.value.hint


def test_a_misspelled_status_is_caught_but_free_text_is_allowed(tmp_path):
    _, problems = check_plan(write(tmp_path, "experiments:\n  c1-a:\n    status: compelted\n"))
    assert problems and problems[0].hint == "did you mean 'completed'?" and problems[0].line == 3
    _, problems = check_plan(write(tmp_path, "experiments:\n  c1-a:\n    status: waiting on data\n"))
    assert not problems


def test_handlers_root_follows_the_project_convention(tmp_path):
    from expkit.plan.handlers import handlers_root, source_for

    path = write(tmp_path, "experiments:\n  c1-vlm-latent:\n    sub_experiments: [e1_1]\n")
    plan = load_plan(path)
    assert handlers_root(plan) == tmp_path / "handlers"
    (tmp_path / "infra" / "modal" / "handlers" / "c1").mkdir(parents=True)
    src = source_for(plan, plan.get("c1-vlm-latent"))
    assert src.module == "infra.modal.handlers.c1" and src.location == tmp_path / "infra" / "modal" / "handlers" / "c1"
    path.write_text("handlers_root: src/h\nexperiments:\n  c1-vlm-latent:\n    sub_experiments: [e1_1]\n")
    assert source_for(load_plan(path), load_plan(path).get("c1-vlm-latent")).module == "src.h.c1"
