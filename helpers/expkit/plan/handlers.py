"""Find an experiment's handlers by the convention research projects use.

`<handlers root>/<prefix>/__init__.py` exposes `get_handlers() -> {sub_id: callable}`, where prefix is the
experiment id up to the first '-'. The root is `handlers_root:` from the plan, else `infra/modal/handlers`
when it exists, else `handlers/`. An experiment may name its module instead (`handlers: pkg.module`).
Handlers are imported only inside the sub-experiment's own process, in the project's Python, never in the runner
(expkit.plan.runtime.expkit_plan_runtime.import_handlers).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from expkit.plan.schema import Experiment, Plan

DEFAULT_ROOTS = ("infra/modal/handlers", "handlers")


@dataclass
class HandlerSource:
    module: str          # dotted module to import
    paths: list[str]     # sys.path entries it needs
    location: Path       # the file or folder a human would open

    def to_json(self) -> dict[str, Any]:
        return {"module": self.module, "paths": self.paths, "location": str(self.location)}


def handlers_root(plan: Plan) -> Path:
    configured = plan.raw.get("handlers_root")
    if configured:
        return (plan.root / str(configured)).resolve()
    for cand in DEFAULT_ROOTS:
        if (plan.root / cand).is_dir():
            return (plan.root / cand).resolve()
    return (plan.root / DEFAULT_ROOTS[-1]).resolve()


def source_for(plan: Plan, exp: Experiment) -> HandlerSource:
    root = str(plan.root)
    named = exp.raw.get("handlers")
    if named:
        rel = Path(*str(named).split("."))
        loc = plan.root / rel
        loc = loc if loc.is_dir() else loc.with_suffix(".py")
        return HandlerSource(str(named), [root], loc)
    hroot = handlers_root(plan)
    try:
        dotted = ".".join(hroot.relative_to(plan.root).parts + (exp.prefix,))
        paths = [root, str(hroot)]
    except ValueError:  # a handlers root outside the project: import the package from its parent
        dotted, paths = exp.prefix, [str(hroot)]
    return HandlerSource(dotted, paths, hroot / exp.prefix)
