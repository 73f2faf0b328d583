"""Keras: `WandbMetricsLogger` (not the deprecated WandbCallback) in `fit(..., callbacks=...)`.

The callback needs a live run, so `wandb.init` goes right before the `fit` statement, `wandb.finish()` where that
block ends.
"""

from __future__ import annotations

from expkit.inject.analyze import Analysis
from expkit.inject.codemods._args import append_to, expr, get_kwarg, set_kwarg
from expkit.inject.edits import Plan
from expkit.inject.run import find_driver, start_run

DESCRIPTION = "Keras: WandbMetricsLogger in fit(callbacks=...)"


def _fits(a: Analysis):
    return [c for c in a.calls if (c.name or "").endswith(".fit") and c.path]


def applies(a: Analysis) -> bool:
    return a.uses("keras", "tensorflow", "tf_keras") and bool(_fits(a))


def plan(plan: Plan, opts) -> None:
    a = plan.analysis
    fits = _fits(a)
    for c in fits:
        def edit(call):
            arg = get_kwarg(call, "callbacks")
            if arg is None:
                return set_kwarg(call, "callbacks", expr("[WandbMetricsLogger()]"))
            return set_kwarg(call, "callbacks", append_to(arg.value, "WandbMetricsLogger()"))
        plan.rewrite_call(c, edit, "fit(callbacks=[WandbMetricsLogger()])")
    start_run(plan, find_driver(a, fits[0], climb=True), opts)
    plan.add_import("from wandb.integration.keras import WandbMetricsLogger")
