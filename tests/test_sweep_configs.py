"""Sweep configs as people write them: YAML 1.2 numbers, bad bounds, duplicate keys, huge grids planned lazily,
every W&B key honoured or refused by name, and the environment trials run with."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from expkit.errors import ExpkitError
from expkit.sweeps import sample
from expkit.sweeps.scheduler import _should_stop
from expkit.sweeps.spec import load_spec, parse_spec
from expkit.sweeps.trials import first_trial, plan_trials, trial_count

BASE = "method: grid\ncommand: python train.py\n"


def spec_file(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# numbers ------------------------------------------------------------------------------------------------------
def test_numbers_in_every_yaml_1_2_form_are_numbers_in_bounds_values_and_value(tmp_path):
    spec = load_spec(spec_file(tmp_path, (
        "method: random\nmax_trials: 50\ncommand: python train.py\nparameters:\n"
        "  lr: {distribution: log_uniform_values, min: 1e-5, max: 5E-4}\n"
        "  wd: {values: [1e-4, 3e-5, +3]}\n"
        "  eps: {value: 1e-8}\n"
        "  steps: {min: +3, max: 10}\n")))
    p = {x.name: x for x in spec.params}
    assert p["lr"].get("min") == 1e-5 and p["lr"].get("max") == 5e-4
    assert p["wd"].get("values") == [1e-4, 3e-5, 3]
    assert p["eps"].get("value") == 1e-8
    assert p["steps"].distribution == "int_uniform"  # +3 and 10 are integers
    for trial in plan_trials(spec):
        assert 1e-5 <= trial["lr"] <= 5e-4 and trial["wd"] in (1e-4, 3e-5, 3) and trial["eps"] == 1e-8
        assert isinstance(trial["steps"], int) and 3 <= trial["steps"] <= 10


def test_a_quoted_number_is_text_and_the_refusal_says_so(tmp_path):
    with pytest.raises(ExpkitError) as err:
        load_spec(spec_file(tmp_path, BASE + "parameters:\n  lr: {distribution: uniform, min: '1e-5', max: 1}\n"))
    assert "'min' must be a number, got '1e-5'" in err.value.message
    assert "without quotes" in err.value.hint


@pytest.mark.parametrize("bound", [".nan", ".inf", "-.inf", ".NaN"])
def test_nan_and_infinite_bounds_are_refused(tmp_path, bound):
    with pytest.raises(ExpkitError) as err:
        load_spec(spec_file(tmp_path, BASE + f"parameters:\n  lr: {{distribution: uniform, min: 0, max: {bound}}}\n"))
    assert "parameter 'lr': 'max' must be a finite number" in err.value.message


def test_log_uniform_exponents_beyond_any_float_are_refused_with_the_likely_meaning(tmp_path):
    with pytest.raises(ExpkitError) as err:
        load_spec(spec_file(tmp_path, "method: random\nmax_trials: 3\ncommand: python t.py\n"
                            "parameters:\n  n: {distribution: log_uniform, min: 1, max: 1000}\n"))
    assert "log_uniform takes exponents" in err.value.message and "log_uniform_values" in err.value.hint


def test_duplicate_keys_are_refused_naming_both_lines(tmp_path):
    with pytest.raises(ExpkitError) as err:
        load_spec(spec_file(tmp_path, BASE + "parameters:\n  lr: {values: [0.1]}\n  lr: {values: [0.2]}\n"))
    assert "key 'lr' appears twice, on lines 4 and 5" in err.value.message


# lazy grids ---------------------------------------------------------------------------------------------------
BILLION = ("name: huge\nmethod: grid\nmax_trials: 5\ncommand: python train.py --a ${a} --b ${b} --c ${c}\n"
           "parameters:\n  a: {distribution: int_uniform, min: 0, max: 999}\n"
           "  b: {distribution: q_uniform, min: 0, max: 99.9, q: 0.1}\n  c: {values: %s}\n" % list(range(1000)))


@pytest.mark.timeout(60)
def test_a_billion_point_grid_with_max_trials_5_plans_5_without_enumerating_the_rest(tmp_path):
    spec = load_spec(spec_file(tmp_path, BILLION))
    assert sample.grid_size(spec.params) == 10 ** 9
    assert trial_count(spec) == 5
    trials = plan_trials(spec)
    assert trials == [{"a": 0, "b": 0.0, "c": c} for c in range(5)]  # declared order, the last varies fastest
    assert first_trial(spec) == trials[0]


@pytest.mark.timeout(120)
def test_dry_run_estimate_and_schedule_of_a_billion_point_grid_finish(tmp_path, expkit):
    spec_file(tmp_path, BILLION)
    dry = expkit("sweep", "run", "sweep.yaml", "--dry-run", "--gpus", "none", "--json", cwd=tmp_path)
    assert dry.returncode == 0, dry
    assert [t["params"]["c"] for t in dry.json()["trials"]] == [0, 1, 2, 3, 4]
    est = expkit("sweep", "estimate", "sweep.yaml", "--no-smoke", "--gpus", "none", "--json", cwd=tmp_path)
    assert est.returncode == 0, est
    assert est.json()["trials"] == 5
    sch = expkit("schedule", "--spec", "sweep.yaml", "-o", "night.sh", "--json", cwd=tmp_path)
    assert sch.returncode == 0, sch
    assert sch.json()["jobs"] == 5
    (tmp_path / "train.py").write_text("import sys\nprint(sys.argv[1:])\n")
    (tmp_path / "sweep.yaml").write_text(BILLION.replace("name: huge", "name: huge-run").replace(
        "command: python", f"command: {sys.executable}"))
    run = expkit("sweep", "run", "sweep.yaml", "--gpus", "none", "--max-parallel", "2", "--json", cwd=tmp_path)
    assert run.returncode == 0, run
    assert run.json()["counts"] == {"succeeded": 5} or run.json()["counts"].get("succeeded") == 5


def test_a_grid_too_large_to_plan_without_max_trials_is_refused_with_its_size(tmp_path):
    spec = load_spec(spec_file(tmp_path, BILLION.replace("max_trials: 5\n", "")))
    with pytest.raises(ExpkitError) as err:
        plan_trials(spec)
    assert "the grid has 1,000,000,000 combinations" in err.value.message and "max_trials" in err.value.hint


def test_grid_of_a_quantized_range_is_exact_multiples():
    p = sample.parse_param("x", {"distribution": "q_uniform", "min": 0.05, "max": 0.31, "q": 0.1})
    assert list(sample.grid_values(p)) == [0.1, 0.2, 0.3]


# W&B keys -----------------------------------------------------------------------------------------------------
W = "method: random\nrun_cap: 3\nprogram: train.py\nmetric: {name: loss, goal: minimize}\nparameters:\n  lr: {values: [0.1]}\n"


@pytest.mark.parametrize("extra, words", [
    ("job: entity/project/job:v1\n", "'job' key is not supported: it names a W&B Launch job"),
    ("image_uri: docker.io/me/img\n", "'image_uri' key is not supported"),
    ("scheduler: {engine: optuna}\n", "'scheduler' key is not supported"),
    ("metrics: [{name: a}, {name: b}]\n", "'metrics' key is not supported: multi-objective"),
    ("kind: job\n", "kind: 'job' is not a sweep"),
    ("imagine: x\n", "unknown key(s) in the sweep spec: imagine"),
])
def test_wandb_keys_expkit_cannot_honour_are_refused_by_name(tmp_path, extra, words):
    with pytest.raises(ExpkitError) as err:
        load_spec(spec_file(tmp_path, W + extra))
    assert words in err.value.message


def test_method_custom_and_metric_imputation_are_refused_by_name(tmp_path):
    with pytest.raises(ExpkitError, match="method: custom"):
        load_spec(spec_file(tmp_path, W.replace("method: random", "method: custom")))
    with pytest.raises(ExpkitError, match="metric.impute is not supported"):
        load_spec(spec_file(tmp_path, W.replace("goal: minimize}", "goal: minimize, impute: worst}")))
    with pytest.raises(ExpkitError, match=r"unknown key\(s\) in early_terminate \(hyperband\): min_iters"):
        load_spec(spec_file(tmp_path, W + "early_terminate: {type: hyperband, min_iters: 3}\n"))


def test_controller_api_version_and_kind_are_accepted_and_the_controller_is_explained(tmp_path):
    spec = load_spec(spec_file(tmp_path, W + "controller: {type: cloud}\napiVersion: v1\nkind: sweep\n"))
    assert any("expkit is the sweep's controller" in n for n in spec.notes)


def test_hyperband_strict_judges_the_value_at_the_bracket_not_the_best_so_far():
    et = {"type": "hyperband", "min_iter": 2, "eta": 2, "s": 1}
    others = {"a": [1.0, 1.0], "b": [5.0, 5.0]}
    mine = [0.5, 3.0]  # best so far 0.5 is in the top half; the value at step 2 (3.0) is not
    assert _should_stop(et, "me", mine, {**others, "me": mine}, set()) is None
    assert "hyperband" in _should_stop({**et, "strict": True}, "me", mine, {**others, "me": mine}, set())


TARGET_TRIAL = """\
import argparse
ap = argparse.ArgumentParser(); ap.add_argument("--lr", type=float); a = ap.parse_args()
print(f"loss={a.lr:.3f}", flush=True)
"""


@pytest.mark.timeout(120)
def test_metric_target_stops_starting_trials_once_one_reaches_it(tmp_path, expkit):
    (tmp_path / "trial.py").write_text(TARGET_TRIAL)
    spec_file(tmp_path, f"name: tgt\nmethod: grid\nmetric: {{name: loss, goal: minimize, target: 0.5}}\n"
                        f"parameters:\n  lr: {{values: [0.9, 0.4, 0.8, 0.7]}}\ncommand: {sys.executable} trial.py\n")
    r = expkit("sweep", "run", "sweep.yaml", "--gpus", "none", "--max-parallel", "1", "--json", cwd=tmp_path)
    assert r.returncode == 0, r  # reaching the target is success
    out = r.json()
    assert out["target_reached"] and "t0002 reached the target loss 0.5" in out["stopped_reason"]
    assert out["counts"]["succeeded"] == 2 and out["counts"]["pending"] == 2


# environment --------------------------------------------------------------------------------------------------
ENV_TRIAL = """\
import json, os, sys
print(json.dumps({k: os.environ.get(k) for k in ("WANDB_MODE", "FOO", "EXPKIT_TRIAL_ID")}), flush=True)
sys.exit(0 if os.environ.get("WANDB_MODE") == "offline" else 3)
"""


@pytest.mark.timeout(120)
def test_env_in_the_spec_and_env_on_the_command_line_reach_every_trial(tmp_path, expkit):
    (tmp_path / "trial.py").write_text(ENV_TRIAL)
    spec_file(tmp_path, f"name: envy\nmethod: grid\nparameters:\n  x: {{values: [1, 2]}}\n"
                        f"env: {{WANDB_MODE: offline, FOO: from-spec}}\ncommand: {sys.executable} trial.py\nargs: none\n")
    dry = expkit("sweep", "run", "sweep.yaml", "--dry-run", "--env", "FOO=from-cli", cwd=tmp_path)
    assert "env: WANDB_MODE=offline FOO=from-cli" in dry.stdout
    r = expkit("sweep", "run", "sweep.yaml", "--gpus", "none", "--env", "FOO=from-cli", "--json", cwd=tmp_path,
               env={"WANDB_MODE": "online"})
    assert r.returncode == 0, r
    assert r.json()["counts"]["succeeded"] == 2
    logs = [p.read_text() for p in (tmp_path / "runs").glob("envy-t*/stdout.log")]
    assert len(logs) == 2 and all('"WANDB_MODE": "offline", "FOO": "from-cli"' in log for log in logs)


def test_env_must_map_names_to_values(tmp_path):
    with pytest.raises(ExpkitError, match="env must map variable names to values"):
        load_spec(spec_file(tmp_path, W + "env: [WANDB_MODE=offline]\n"))


@pytest.mark.timeout(120)
def test_estimate_fails_with_the_diagnosis_when_its_smoke_trial_fails(tmp_path, expkit):
    (tmp_path / "trial.py").write_text(ENV_TRIAL)
    spec_file(tmp_path, f"name: smoky\nmethod: grid\nparameters:\n  x: {{values: [1, 2]}}\n"
                        f"command: {sys.executable} trial.py\nargs: none\n")
    bad = expkit("sweep", "estimate", "sweep.yaml", "--gpus", "none", "--smoke-seconds", "30", cwd=tmp_path,
                 env={"WANDB_MODE": "online"})
    assert bad.returncode == 1, bad
    assert "the smoke run failed, so there is no estimate" in bad.stdout
    assert "exit" in bad.stdout.lower()  # the diagnosis of the failed run follows
    as_json = expkit("sweep", "estimate", "sweep.yaml", "--gpus", "none", "--smoke-seconds", "30", "--json",
                     cwd=tmp_path, env={"WANDB_MODE": "online"})
    assert as_json.returncode == 1
    per = as_json.json()["per_trial"]
    assert per["failed"] and per["seconds"] is None and per["diagnosis"]["state"] == "failed"
    good = expkit("sweep", "estimate", "sweep.yaml", "--gpus", "none", "--smoke-seconds", "30", "--env",
                  "WANDB_MODE=offline", "--json", cwd=tmp_path)
    assert good.returncode == 0, good
    assert not good.json()["per_trial"].get("failed")


def test_wandb_parameter_file_gives_wandb_config_the_trial_parameters(tmp_path):
    """The file W&B's agent writes: wandb.init() in the trial reads it into wandb.config."""
    from expkit.sweeps.batch import Batch
    from expkit.sweeps.trials import wandb_params_file

    batch = Batch(tmp_path / "b")
    path = wandb_params_file(batch, {"id": "t0001", "params": {"lr": 1e-5, "layers": [1, 2]}})
    from wandb.sdk.lib import config_util

    assert config_util.dict_from_config_file(str(path)) == {"lr": 1e-5, "layers": [1, 2]}


WANDB_TRIAL = """\
import sys, wandb
run = wandb.init(project="corpus", config={"lr": 0.5, "epochs": 1})
print("ARGS", sys.argv[1:], "CONFIG", dict(sorted(run.config.items())), flush=True)
run.finish()
"""


@pytest.mark.timeout(240)
def test_a_wandb_command_without_args_gets_its_parameters_through_wandb_config(tmp_path, expkit):
    """W&B's own form: `command: [${env}, ${interpreter}, ${program}]` passes nothing on the command line; the
    script reads wandb.config. A real offline W&B run shows the trial's values there."""
    (tmp_path / "train.py").write_text(WANDB_TRIAL)
    spec_file(tmp_path, "name: wb\nmethod: grid\nprogram: train.py\nparameters:\n  lr: {values: [1e-5]}\n"
                        "  epochs: {value: 3}\ncommand:\n  - ${env}\n  - ${interpreter}\n  - ${program}\n"
                        "env: {WANDB_MODE: offline}\n")
    r = expkit("sweep", "run", "sweep.yaml", "--gpus", "none", "--json", cwd=tmp_path)
    assert r.returncode == 0, r
    log = next((tmp_path / "runs").glob("wb-t0001*/stdout.log")).read_text()
    assert "ARGS [] CONFIG {'epochs': 3, 'lr': 1e-05}" in log, log


def test_log_uniform_with_bounds_that_look_like_values_gets_a_warning(tmp_path, expkit):
    """From the corpus: `distribution: log_uniform, min: 0.0001, max: 0.1` "for learning rates" samples
    e^0.0001..e^0.1 in W&B; expkit samples the same and says what that means."""
    corpus = Path(__file__).parent / "realworld" / "sweeps" / "pixel_art_diffusion__configs_sweep.yaml"
    (tmp_path / "sweep.yaml").write_text(corpus.read_text())
    r = expkit("sweep", "run", "sweep.yaml", "--dry-run", "--json", "--gpus", "none", cwd=tmp_path)
    assert r.returncode == 0, r
    assert any("'learning_rate': log_uniform takes exponents" in w and "1..1.105" in w and "log_uniform_values" in w
               for w in r.json()["warnings"]), r.json()["warnings"]


@pytest.mark.timeout(180)
def test_env_added_to_the_spec_after_failures_is_used_when_the_failed_trials_are_retried(tmp_path, expkit):
    (tmp_path / "trial.py").write_text(ENV_TRIAL)
    body = f"name: fix\nmethod: grid\nparameters:\n  x: {{values: [1, 2]}}\ncommand: {sys.executable} trial.py\nargs: none\n"
    spec_file(tmp_path, body + "stop_after_same_failures: 0\n")
    first = expkit("sweep", "run", "sweep.yaml", "--gpus", "none", "--json", cwd=tmp_path, env={"WANDB_MODE": "online"})
    assert first.returncode == 1 and first.json()["counts"]["failed"] == 2
    spec_file(tmp_path, body + "stop_after_same_failures: 0\nenv: {WANDB_MODE: offline}\n")
    again = expkit("sweep", "run", "sweep.yaml", "--gpus", "none", "--json", cwd=tmp_path, env={"WANDB_MODE": "online"})
    assert again.json()["counts"]["failed"] == 2  # same trials: the sweep continues, failures stay failures
    retry = expkit("sweep", "resume", "fix", "--gpus", "none", "--retry-failed", "--json", cwd=tmp_path,
                   env={"WANDB_MODE": "online"})
    assert retry.returncode == 0, retry
    assert retry.json()["counts"]["succeeded"] == 2


def test_a_grid_larger_than_any_list_plans_its_first_trials():
    """10^40 points: more than len() can even count."""
    spec = parse_spec({"method": "grid", "max_trials": 3, "command": "python t.py",
                       "parameters": {"a": {"distribution": "int_uniform", "min": 0, "max": 10 ** 20},
                                      "b": {"distribution": "int_uniform", "min": 1, "max": 10 ** 20}}})
    assert sample.grid_size(spec.params) == (10 ** 20 + 1) * 10 ** 20
    assert plan_trials(spec) == [{"a": 0, "b": 1}, {"a": 0, "b": 2}, {"a": 0, "b": 3}]


def test_wandb_command_macros_expand_as_wandbs_agent_expands_them(tmp_path, monkeypatch):
    """Each macro as W&B's agent builds it (wandb/sdk/launch/sweeps/utils.py): values formatted with str()."""
    from expkit.sweeps.spec import build_argv

    monkeypatch.setenv("DATA_ROOT", "/data/x")
    base = ["${env}", "${interpreter}", "${program}"]
    params = {"lr": 0.1, "layers": ["a", "b"], "amp": True}

    def argv(*items, env=None):
        spec = parse_spec({"method": "grid", "program": "t.py", "env": env or {},
                           "parameters": {"lr": {"value": 0.1}, "layers": {"value": ["a", "b"]},
                                          "amp": {"value": True}}, "command": base + list(items)})
        return build_argv(spec, params)[3:]

    assert argv("${args}") == ["--lr=0.1", "--layers=['a', 'b']", "--amp=True"]
    assert argv("${args_no_hyphens}") == ["lr=0.1", "layers=['a', 'b']", "amp=True"]
    assert argv("${args_no_boolean_flags}") == ["--lr=0.1", "--layers=['a', 'b']", "--amp"]
    assert argv("${args_no_equals}") == ["--lr", "0.1", "--layers", "['a', 'b']", "--amp", "True"]
    assert argv("${args_append_hydra}") == ["+lr=0.1", "+layers=['a', 'b']", "+amp=True"]
    assert argv("${args_override_hydra}") == ["++lr=0.1", "++layers=['a', 'b']", "++amp=True"]
    assert argv("${args_json}") == ['{"lr": 0.1, "layers": ["a", "b"], "amp": true}']
    assert argv("--data", "${envvar:DATA_ROOT}", "--mode", "${envvar:RUN_MODE}", env={"RUN_MODE": "fast"}) == [
        "--data", "/data/x", "--mode", "fast"]
    assert argv("${args_json_file}") == ["${args_json_file}"]  # each launch puts the trial's own file there


@pytest.mark.timeout(120)
def test_args_json_file_gives_each_trial_a_file_with_its_parameters(tmp_path, expkit):
    (tmp_path / "t.py").write_text("import json, sys\nprint('PARAMS', json.load(open(sys.argv[1])), flush=True)\n")
    spec_file(tmp_path, "name: jf\nmethod: grid\nprogram: t.py\nparameters:\n  lr: {values: [0.1, 0.2]}\n"
                        "command:\n  - ${env}\n  - ${interpreter}\n  - ${program}\n  - ${args_json_file}\n")
    r = expkit("sweep", "run", "sweep.yaml", "--gpus", "none", "--json", cwd=tmp_path)
    assert r.returncode == 0, r
    logs = sorted(p.read_text() for p in (tmp_path / "runs").glob("jf-t*/stdout.log"))
    assert "PARAMS {'lr': 0.1}" in logs[0] and "PARAMS {'lr': 0.2}" in logs[1]


NESTED = """\
name: nest
method: grid
metric: {name: loss, goal: minimize}
program: train.py
parameters:
  optimizer:
    parameters:
      lr: {values: [0.1, 0.01]}
      momentum: {value: 0.9}
  layers: {values: [2, 3]}
command:
  - ${env}
  - ${interpreter}
  - ${program}
  - ${args}
env: {WANDB_MODE: offline}
"""
NESTED_TRIAL = """\
import sys, wandb
run = wandb.init(project="nest")
opt = run.config["optimizer"]
print("ARGV", sys.argv[1:], flush=True)
print(f"loss={opt['lr'] * run.config['layers']:.4f}", flush=True)
run.finish()
"""


def test_nested_parameters_are_planned_sampled_and_passed_as_wandb_does():
    spec = parse_spec(__import__("yaml").safe_load(NESTED))
    opt = next(p for p in spec.params if p.name == "optimizer")
    assert opt.distribution == "nested" and opt.to_wandb() == {
        "parameters": {"lr": {"values": [0.1, 0.01]}, "momentum": {"value": 0.9}}}
    assert plan_trials(spec) == [{"optimizer": {"lr": 0.1, "momentum": 0.9}, "layers": 2},
                                 {"optimizer": {"lr": 0.1, "momentum": 0.9}, "layers": 3},
                                 {"optimizer": {"lr": 0.01, "momentum": 0.9}, "layers": 2},
                                 {"optimizer": {"lr": 0.01, "momentum": 0.9}, "layers": 3}]
    rnd = parse_spec({**__import__("yaml").safe_load(NESTED), "method": "random", "max_trials": 20})
    for trial in plan_trials(rnd):
        assert sample.check_value(opt, trial["optimizer"])
    assert not sample.check_value(opt, {"lr": 0.5, "momentum": 0.9})
    with pytest.raises(ExpkitError, match="nested parameters take only a non-empty `parameters:` mapping"):
        parse_spec({"method": "grid", "command": "python t.py", "parameters": {"o": {"parameters": {}, "values": [1]}}})


@pytest.mark.timeout(240)
def test_a_nested_sweep_runs_with_wandb_config_holding_the_nested_values_and_is_reported(tmp_path, expkit):
    (tmp_path / "train.py").write_text(NESTED_TRIAL)
    spec_file(tmp_path, NESTED)
    r = expkit("sweep", "run", "sweep.yaml", "--gpus", "none", "--max-parallel", "2", "--json", cwd=tmp_path)
    assert r.returncode == 0, r
    logs = "".join(p.read_text() for p in (tmp_path / "runs").glob("nest-t*/stdout.log"))
    assert "--optimizer={'lr': 0.01, 'momentum': 0.9}" in logs and "loss=0.0200" in logs
    report = expkit("sweep", "report", "nest", "--json", cwd=tmp_path)
    assert report.returncode == 0, report
    assert report.json()["best"]["params"] == {"optimizer": {"lr": 0.01, "momentum": 0.9}, "layers": 2}
