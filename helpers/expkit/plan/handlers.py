"""Find an experiment's handlers by the convention research projects use.

`<handlers root>/<prefix>/__init__.py` exposes `get_handlers() -> {sub_id: callable}`, where prefix is the
experiment id up to the first '-'. The root is `handlers_root:` from the plan, else `infra/modal/handlers`
when it exists, else `handlers/`. An experiment may name its module instead (`handlers: pkg.module`).
Handlers are imported only inside the sub-experiment's own process, never in the runner.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

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


def import_handlers(source: HandlerSource) -> dict[str, Callable]:
    """Import the module and call get_handlers(); raise ImportError/TypeError with what to fix."""
    for path in reversed(source.paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(source.module)
    except ModuleNotFoundError as exc:
        if exc.name and source.module.startswith(exc.name):
            raise ImportError(f"no handler package {source.module} (expected {source.location}/__init__.py "
                              f"with get_handlers())") from None
        raise
    get = getattr(module, "get_handlers", None)
    if not callable(get):
        raise TypeError(f"{source.module} has no get_handlers() function returning {{sub_id: handler}}")
    handlers = get()
    if not isinstance(handlers, dict):
        raise TypeError(f"{source.module}.get_handlers() returned {type(handlers).__name__}, expected a dict "
                        "{sub_id: handler}")
    return {str(k): v for k, v in handlers.items()}
