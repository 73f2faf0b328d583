"""TensorBoard's SummaryWriter: `wandb.init(sync_tensorboard=True)` before the writer is made mirrors every scalar."""

from __future__ import annotations

from expkit.inject.analyze import Analysis
from expkit.inject.edits import Plan
from expkit.inject.run import find_driver, start_run

DESCRIPTION = "TensorBoard: wandb.init(sync_tensorboard=True) before the SummaryWriter"


def writers(a: Analysis):
    return [c for c in a.calls if (c.name or "").endswith("SummaryWriter") and c.path]


def applies(a: Analysis) -> bool:
    return bool(writers(a))


def plan(plan: Plan, opts) -> None:
    site = writers(plan.analysis)[0]
    start_run(plan, find_driver(plan.analysis, site, climb=True), opts, extra_init="sync_tensorboard=True",
              what="the SummaryWriter")
