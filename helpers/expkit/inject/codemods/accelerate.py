"""HF Accelerate: `Accelerator(log_with="wandb")`, `init_trackers` after it, `end_training` where the training
function ends, and the loss through `accelerator.log` (which already runs only on the main process)."""

from __future__ import annotations

import json

import libcst as cst

from expkit.inject.analyze import Analysis, Site
from expkit.inject.codemods._args import append_to, expr, get_kwarg, set_kwarg, string_values
from expkit.inject.codemods.loop import log_steps, loss_sites, skipped_notes
from expkit.inject.config import param_config, statement_config
from expkit.inject.edits import MARK, Plan

DESCRIPTION = 'Accelerate: log_with="wandb", init_trackers, accelerator.log(loss), end_training'


def _accelerators(a: Analysis):
    return [c for c in a.calls if (c.qualname or "").startswith("accelerate.")
            and (c.qualname or "").endswith("Accelerator") and c.path]


def applies(a: Analysis) -> bool:
    return bool(_accelerators(a))


def _target(site: Site) -> str | None:
    stmt = site.stmt
    if isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Assign):
        t = stmt.body[0].targets[0].target
        if isinstance(t, cst.Name) and stmt.body[0].value is site.node:
            return t.value
    return None


def _visible(a: Analysis, site: Site, name: str) -> bool:
    if site.func is None:
        return True
    p = site.func.params
    if name in {x.name.value for x in (*p.posonly_params, *p.params, *p.kwonly_params)}:
        return True
    return any(s.func in (site.func, None) and isinstance(s.node, cst.Assign)
               and isinstance(s.node.targets[0].target, cst.Name) and s.node.targets[0].target.value == name
               for s in a.assigns)


def plan(plan: Plan, opts) -> None:
    a = plan.analysis
    site = _accelerators(a)[0]
    arg = get_kwarg(site.node, "log_with")
    values = string_values(arg.value) if arg else None
    if values is not None and {"wandb", "all"} & set(values):
        which = "wandb" if "wandb" in values else "all"
        plan.notes.append(f"line {a.line_of(site.node)}: Accelerator(log_with=\"{which}\") already "
                          + ("sends to W&B" if which == "wandb" else "includes W&B (every installed tracker)")
                          + ": no change needed there")
        plan.existing.append({"line": a.line_of(site.node), "code": f"log_with=\"{which}\""})
    if arg is None:
        plan.rewrite_call(site, lambda call: set_kwarg(call, "log_with", expr('"wandb"')), 'log_with="wandb"')
    elif values is None or not ({"wandb", "all"} & set(values)):
        plan.rewrite_call(site, lambda call: set_kwarg(call, "log_with", append_to(
            get_kwarg(call, "log_with").value, '"wandb"')), 'log_with += ["wandb"]')
    name = _target(site)
    if name is None:
        plan.warnings.append(f"line {a.line_of(site.node)}: the Accelerator is not assigned to a name: "
                             "add `accelerator.init_trackers(...)` and `accelerator.log(...)` yourself")
        return
    methods = {(c.name or "") for c in a.calls}
    block, stmt = site.block, site.stmt
    if f"{name}.init_trackers" in methods:
        plan.notes.append(f"the script already calls {name}.init_trackers(...): its project and config are kept")
    if f"{name}.init_trackers" not in methods:
        cfg = statement_config(a, block, stmt, site.func) or param_config(a, site.func)
        for imp in cfg.imports if cfg else ():
            plan.add_import(imp)
        project = json.dumps(opts.project) if opts.project else \
            f'os.environ.get("WANDB_PROJECT", {json.dumps(opts.script_stem)})'
        if not opts.project and "os" not in a.imports:
            plan.add_import("import os")
        call = f"{name}.init_trackers({project}" + (f", config={cfg.expr}" if cfg else "") + \
            (f', init_kwargs={{"wandb": {{"entity": {json.dumps(opts.entity)}}}}}' if opts.entity else "") + ")"
        plan.insert(site, "after", f"{call}  {MARK}", "accelerator.init_trackers")
        if cfg:
            plan.notes.append(f"config: {cfg.source}")
        if f"{name}.end_training" not in methods:
            plan.at_end(site, block, f"{name}.end_training()  {MARK}", "accelerator.end_training", anchor=stmt)
    if f"{name}.log" in methods:
        plan.notes.append(f"the script already logs with {name}.log(...): no metric added")
    if f"{name}.log" not in methods:
        skipped: list = []
        losses = []
        for s, key, value in loss_sites(a, skipped):
            if _visible(a, s, name):
                losses.append((s, key, value))
            else:
                plan.warnings.append(f"line {a.line_of(s.stmt)}: `{name}` is not visible where the loss is: "
                                     f'log it with `{name}.log({{"{key}": {value}}})`')
        plan.notes.extend(skipped_notes(a, skipped))
        log_steps(plan, losses, call=f"{name}.log", guard=False, visible=lambda s: _visible(a, s, name),
                  defer=', log_kwargs={"wandb": {"commit": False}}')
