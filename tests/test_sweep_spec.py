"""Sweep specs: expkit's YAML and W&B's sweep format, every W&B distribution, export back to W&B."""

from __future__ import annotations

import random

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from expkit.errors import ExpkitError
from expkit.sweeps import sample
from expkit.sweeps.spec import build_argv, hyperband_brackets, load_spec, parse_spec, to_wandb
from expkit.sweeps.sweep import plan_trials

WANDB_SPEC = """
program: train.py
method: random
run_cap: 40
metric: {name: val_loss, goal: minimize}
parameters:
  const: {value: 7}
  opt: {values: [adam, sgd]}
  weighted: {values: [a, b], probabilities: [0.9, 0.1]}
  layers: {distribution: int_uniform, min: 1, max: 4}
  dropout: {distribution: uniform, min: 0.0, max: 0.5}
  step: {distribution: q_uniform, min: 0.1, max: 1.0, q: 0.3}
  lr_exp: {distribution: log_uniform, min: -9.2, max: -2.3}
  lr: {distribution: log_uniform_values, min: 0.0001, max: 0.1}
  bs: {distribution: q_log_uniform_values, min: 16, max: 256, q: 16}
  qlu: {distribution: q_log_uniform, min: 0, max: 5, q: 2}
  inv: {distribution: inv_log_uniform, min: 1, max: 3}
  invv: {distribution: inv_log_uniform_values, min: 0.01, max: 0.5}
  noise: {distribution: normal, mu: 0, sigma: 2}
  qn: {distribution: q_normal, mu: 10, sigma: 3, q: 2}
  ln: {distribution: log_normal, mu: 0, sigma: 1}
  qln: {distribution: q_log_normal, mu: 2, sigma: 0.5, q: 1}
  frac: {distribution: beta, a: 2, b: 5}
  qfrac: {distribution: q_beta, a: 2, b: 2, q: 0.25}
early_terminate: {type: hyperband, min_iter: 3, eta: 3}
command:
  - ${env}
  - ${interpreter}
  - ${program}
  - --fixed
  - ${args}
"""


def test_wandb_spec_runs_unchanged_and_every_value_respects_its_declaration(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(WANDB_SPEC)
    spec = load_spec(path)
    assert spec.name == "sweep" and spec.method == "random" and spec.run_cap == 40
    assert {p.name: p.distribution for p in spec.params}["layers"] == "int_uniform"
    trials = plan_trials(spec)
    assert len(trials) == 40
    by_name = {p.name: p for p in spec.params}
    for params in trials:
        for name, value in params.items():
            assert sample.check_value(by_name[name], value), (name, value)
        assert isinstance(params["layers"], int) and isinstance(params["bs"], int)
        assert params["bs"] % 16 == 0 and 16 <= params["bs"] <= 256
        assert params["step"] in (0.3, 0.6, 0.9)  # round(X/q)*q moved inside [0.1, 1.0]
    # the same seed gives the same trials (a resumed sweep redraws nothing differently)
    assert plan_trials(load_spec(path)) == trials
    argv = build_argv(spec, trials[0])
    assert argv[:4] == ["/usr/bin/env", argv[1], "train.py", "--fixed"]
    assert "--const=7" in argv and any(a.startswith("--lr=") for a in argv)


@settings(max_examples=60, deadline=None)
@given(lo=st.floats(-5, 5), width=st.floats(0.01, 10), q=st.floats(0.01, 3), seed=st.integers(0, 10**6),
       dist=st.sampled_from(["uniform", "q_uniform", "log_uniform", "q_log_uniform", "inv_log_uniform"]))
def test_sampled_values_stay_within_bounds(lo, width, q, seed, dist):
    raw = {"distribution": dist, "min": lo, "max": lo + width}
    if dist.startswith("q_"):
        raw["q"] = q
    try:
        p = sample.parse_param("x", raw)
    except ExpkitError:
        return  # e.g. no multiple of q inside the range: refused up front, never sampled out of bounds
    rng = random.Random(seed)
    for _ in range(20):
        assert sample.check_value(p, sample.sample(p, rng))


@settings(max_examples=40, deadline=None)
@given(lo=st.floats(1e-6, 10), ratio=st.floats(1.01, 1e4), seed=st.integers(0, 10**6),
       dist=st.sampled_from(["log_uniform_values", "inv_log_uniform_values", "q_log_uniform_values"]))
def test_value_space_log_distributions_stay_within_min_max(lo, ratio, seed, dist):
    raw = {"distribution": dist, "min": lo, "max": lo * ratio}
    if dist.startswith("q_"):
        raw["q"] = lo
    p = sample.parse_param("x", raw)
    rng = random.Random(seed)
    for _ in range(20):
        v = sample.sample(p, rng)
        assert lo <= v <= lo * ratio + 1e-9 and sample.check_value(p, v)


def test_grid_enumerates_values_int_uniform_and_q_uniform_in_order():
    spec = parse_spec({"method": "grid", "command": "python t.py",
                       "parameters": {"a": {"values": [1, 2]}, "n": {"distribution": "int_uniform", "min": 1, "max": 3},
                                      "q": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.5}},
                       "fixed": {"epochs": 2}})
    trials = plan_trials(spec)
    assert len(trials) == 2 * 3 * 3
    assert trials[0] == {"a": 1, "n": 1, "q": 0.0, "epochs": 2} and trials[-1] == {"a": 2, "n": 3, "q": 1.0, "epochs": 2}


def test_template_substitution_and_hydra_overrides():
    spec = parse_spec({"method": "grid", "args": "hydra", "command": "python train.py lr=${lr} +trainer.fast=true",
                       "parameters": {"lr": {"values": [0.1]}, "model.depth": {"values": [4]}}})
    assert build_argv(spec, {"lr": 0.1, "model.depth": 4}) == ["python", "train.py", "lr=0.1", "+trainer.fast=true",
                                                               "model.depth=4"]


@pytest.mark.parametrize("raw, message", [
    ({"method": "grid", "command": "x", "parameters": {"lr": {"distribution": "unifrom", "min": 0, "max": 1}}},
     "unknown distribution 'unifrom'"),
    ({"method": "random", "command": "x", "parameters": {"lr": {"min": 0.0, "max": 1.0}}}, "needs max_trials"),
    ({"method": "grid", "command": "x", "parameters": {"lr": {"distribution": "uniform", "min": 0.0, "max": 1.0}}},
     "cannot enumerate"),
    ({"method": "grid", "command": "python t.py --lr ${lrr}", "parameters": {"lr": {"values": [1]}}},
     "no parameter is called 'lrr'"),
    ({"method": "grid", "command": "x", "parameters": {"lr": {"distribution": "uniform", "min": 1.0, "max": 0.5}}},
     "must be below max"),
    ({"method": "grid", "command": "x", "parameters": {"lr": {"distribution": "log_uniform_values", "min": 0, "max": 1}}},
     "min > 0"),
    ({"method": "grid", "command": "x", "paramters": {}}, "did you mean: paramters -> parameters"),
    ({"method": "grid", "command": "x", "parameters": {"b": {"distribution": "q_uniform", "min": 0.1, "max": 0.2, "q": 1}}},
     "no multiple of q"),
])
def test_bad_specs_are_refused_with_a_hint(raw, message):
    with pytest.raises(ExpkitError) as exc:
        spec = parse_spec(raw)
        plan_trials(spec)
    assert message in exc.value.message + (exc.value.hint or "")
    assert exc.value.hint


def test_export_to_wandb_round_trips(tmp_path):
    spec = parse_spec({"name": "s", "method": "random", "max_trials": 5, "metric": {"name": "acc", "goal": "max"},
                       "parameters": {"lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
                                      "bs": {"values": [16, 32]}},
                       "fixed": {"epochs": 3},
                       "early_terminate": {"type": "hyperband", "min_iter": 2},
                       "command": "python train.py --lr ${lr} --bs=${bs}"})
    config, notes = to_wandb(spec)
    assert config["program"] == "train.py" and config["run_cap"] == 5
    assert config["command"] == ["${env}", "${interpreter}", "${program}", "${args}"]
    assert config["parameters"]["epochs"] == {"value": 3}
    assert config["metric"] == {"name": "acc", "goal": "maximize"}
    path = tmp_path / "wandb.yaml"
    path.write_text(yaml.safe_dump(config))
    back = load_spec(path)  # the exported file is itself a valid spec with the same trials' parameters
    assert {p.name for p in back.params} == {"lr", "bs", "epochs"}
    argv = build_argv(back, {"lr": 0.01, "bs": 16, "epochs": 3})
    assert argv[2:] == ["train.py", "--lr=0.01", "--bs=16", "--epochs=3"]


def test_hyperband_brackets():
    assert hyperband_brackets({"min_iter": 3, "eta": 3}) == [3, 9, 27]
    assert hyperband_brackets({"max_iter": 27, "eta": 3, "s": 2}) == [3, 9]


def test_cli_export_writes_a_wandb_yaml(expkit, tmp_path):
    (tmp_path / "s.yaml").write_text("method: grid\nparameters: {lr: {values: [0.1, 0.01]}}\n"
                                     "command: python train.py --lr ${lr}\n")
    r = expkit("sweep", "export", "s.yaml", "-o", "w.yaml", cwd=tmp_path)
    assert r.returncode == 0, r
    out = yaml.safe_load((tmp_path / "w.yaml").read_text())
    assert out["program"] == "train.py" and out["parameters"]["lr"] == {"values": [0.1, 0.01]}
    bad = expkit("sweep", "export", "missing.yaml", cwd=tmp_path)
    assert bad.returncode == 2 and "error: sweep spec not found" in bad.stderr and "hint:" in bad.stderr
