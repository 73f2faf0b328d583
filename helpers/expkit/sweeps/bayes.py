"""Bayesian search through optuna (TPE), rebuilt from the finished trials on disk at every ask.

Rebuilding keeps resume trivial (no sampler state to save) and costs milliseconds for sweeps of hundreds of
trials. Distributions optuna has no native form for (normal, beta, ...) are sampled at random; every value is then
passed through expkit's own bounds and quantization, so it respects the declared range and type.
"""

from __future__ import annotations

import math
import random
from typing import Any

from expkit.sweeps import sample
from expkit.sweeps.spec import SweepSpec


def _dist(optuna, p: sample.Param):
    D, g = optuna.distributions, p.get
    d = p.distribution
    if d.startswith("categorical"):
        return D.CategoricalDistribution(list(g("values")))
    if d == "int_uniform":
        return D.IntDistribution(g("min"), g("max"))
    if d == "uniform":
        return D.FloatDistribution(float(g("min")), float(g("max")))
    if d == "log_uniform_values":
        return D.FloatDistribution(float(g("min")), float(g("max")), log=True)
    if d == "log_uniform":
        return D.FloatDistribution(math.exp(g("min")), math.exp(g("max")), log=True)
    if d == "inv_log_uniform_values":
        return D.FloatDistribution(float(g("min")), float(g("max")), log=True)
    if d in ("q_uniform", "q_log_uniform_values"):
        lo, hi = p.bounds()
        return D.FloatDistribution(float(lo), float(hi), log=d != "q_uniform")
    return None


def ask(optuna, spec: SweepSpec, jobs: list[dict[str, Any]]) -> dict[str, Any]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = "maximize" if spec.goal == "maximize" else "minimize"
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=spec.seed + len(jobs)))
    dists = {p.name: dd for p in spec.params if not p.is_constant and (dd := _dist(optuna, p)) is not None}
    for job in jobs:
        value = job.get("metric_value")
        params = {k: v for k, v in (job.get("params") or {}).items() if k in dists}
        if value is None or len(params) != len(dists) or not all(dists[k]._contains(dists[k].to_internal_repr(v))
                                                                  for k, v in params.items()):
            continue
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=value))
    trial = study.ask(dists)
    rng = random.Random(f"expkit-bayes:{spec.seed}:{len(jobs)}")
    out: dict[str, Any] = {}
    for p in spec.params:
        if p.name in dists:
            v = trial.params[p.name]
            if p.distribution.startswith("q_"):
                v = sample._quantize(v, p.get("q", 1), p.bounds())
            elif p.bounds() is not None and not isinstance(v, int):
                v = sample._clamp(v, p.bounds())
            out[p.name] = v
        else:
            out[p.name] = sample.sample(p, rng)
    return out
