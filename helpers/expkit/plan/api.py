"""What a handler sees: ExperimentRunner (metrics, config, seed, logger, device) and ResultsWriter (artifacts).

A handler is `def handler(runner) -> {"finding": str, "metrics": dict, "artifacts": list}`.
They are defined in the plan runtime (expkit.plan.runtime.expkit_plan_runtime, standard library only), the one
file of expkit that runs in the project's Python; this module is their name inside expkit.
"""

from __future__ import annotations

import os

from expkit.plan.runtime.expkit_plan_runtime import (METRICS_FILE, RESULT_KEYS, ExperimentRunner, MetricsSink,
                                                     ResultsWriter, check_result, to_number, to_plain)

__all__ = ["METRICS_FILE", "RESULT_KEYS", "ExperimentRunner", "MetricsSink", "ResultsWriter", "check_result",
           "to_number", "to_plain", "wandb_configured", "wandb_wanted"]


def wandb_configured(env: dict[str, str] | os._Environ = os.environ) -> bool:
    """W&B is asked for: a project or an offline/online mode is set, and it is not switched off."""
    mode = env.get("WANDB_MODE", "").lower()
    if mode in ("disabled",) or env.get("EXPKIT_WANDB") == "0":
        return False
    return bool(env.get("WANDB_PROJECT") or mode in ("offline", "online", "dryrun"))


def wandb_wanted(env: dict[str, str] | os._Environ = os.environ) -> bool:
    """W&B is configured and wandb can be imported in this interpreter (the plan runner asks the project's
    interpreter instead: see expkit.plan.local.UnitServer.has_wandb)."""
    if not wandb_configured(env):
        return False
    import importlib.util

    return importlib.util.find_spec("wandb") is not None
