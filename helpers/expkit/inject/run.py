"""Where a W&B run starts and ends: shared by every codemod that needs its own `wandb.init`.

The run starts just before the statement that begins the work (the training loop, `fit`, the SummaryWriter),
once the configuration is known, and `wandb.finish()` goes where that block ends. No user line is moved or
re-indented: when training raises, W&B's own exit hook ends the run as failed with the script's non-zero exit
code (a `finally: wandb.finish()` would record the crash as a finished run with exit code 0). In distributed
scripts the run exists only on the main process, decided with the script's own rank notion.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import libcst as cst

from expkit.inject.analyze import Analysis, CallSite, Site, dotted
from expkit.inject.config import (Config, module_constants, param_config, parameters_config, self_config,
                                  statement_config)
from expkit.inject.edits import MARK, Plan

RANK_BOOLS = ("master_process", "is_master", "is_main_process", "is_main", "main_process", "is_master_process",
              "is_global_zero", "is_rank_zero", "is_chief")
RANK_INTS = ("rank", "global_rank", "ddp_rank", "world_rank", "proc_rank", "process_rank", "local_rank")


@dataclass
class Driver:
    """The scope that owns the run: its block, the statement the run starts before, its config."""

    scope: cst.FunctionDef | None
    block: object
    anchor: cst.BaseStatement
    site: Site
    config: Config | None
    worker: bool = False
    after: bool = False  # start the run right after `anchor` (the config assignment), not before it


def _fabric(a: Analysis) -> str | None:
    """The name a Lightning Fabric is assigned to, if any."""
    for s in a.assigns:
        v = s.node.value
        if isinstance(v, cst.Call) and (a.qualify(dotted(v.func)) or "").split(".")[0] == "lightning" \
                and (dotted(v.func) or "").endswith("Fabric"):
            t = s.node.targets[0].target if isinstance(s.node, cst.Assign) else s.node.target
            if isinstance(t, cst.Name):
                return t.value
    return None


def is_distributed(a: Analysis) -> bool:
    if a.reads_rank_env or _fabric(a):
        return True
    if a.uses("torch.distributed", "torch.multiprocessing", "torch.nn.parallel", "horovod", "deepspeed"):
        return True
    return any((c.name or "").endswith(("init_process_group", "DistributedDataParallel", ".spawn"))
               for c in a.calls)


def spawned_by(a: Analysis, func: cst.FunctionDef) -> Site | None:
    """The `mp.spawn(func, ...)` / `Process(target=func)` call that runs `func` in workers, if any."""
    name = func.name.value
    for c in a.calls:
        n = c.name or ""
        if n.endswith("spawn") and c.node.args and dotted(c.node.args[0].value) == name:
            return c
        if n.endswith("Process"):
            for arg in c.node.args:
                if arg.keyword and arg.keyword.value == "target" and dotted(arg.value) == name:
                    return c
    return None


def _call_names(a: Analysis, func: cst.FunctionDef) -> set:
    """How the script calls `func`: `train(...)`, or for a method of class C, `self.train(...)` inside C and
    `trainer.train(...)` where `trainer = C(...)` (not every `x.train()`: nn.Module has a train() too)."""
    name = func.name.value
    path = a.func_sites[func].path
    owner = path[-2][1] if len(path) >= 2 else None
    if not isinstance(owner, cst.ClassDef):
        return {name}
    cls = owner.name.value
    names = {f"self.{name}"}
    for s in a.assigns:
        v = s.node.value
        t = s.node.targets[0].target if isinstance(s.node, cst.Assign) else s.node.target
        if isinstance(v, cst.Call) and dotted(v.func) == cls and isinstance(t, cst.Name):
            names.add(f"{t.value}.{name}")
    return names


def call_chain(a: Analysis, site: Site) -> list[tuple]:
    """[(scope, site in scope)] from the function holding `site` up through its callers.

    Stops at a function that worker processes run (never start the run in the parent that spawns them).
    """
    chain = [(site.func, site)]
    seen = set()
    while chain[-1][0] is not None:
        func = chain[-1][0]
        if id(func) in seen or spawned_by(a, func):
            break
        seen.add(id(func))
        names = _call_names(a, func)
        callers = [c for c in a.calls if c.name in names and c.func is not func]
        if callers:
            chain.append((callers[0].func, callers[0]))
            continue
        here = a.func_sites[func]
        method = len(here.path) > 1 and isinstance(here.path[-2][1], cst.ClassDef)
        if here.func is not None or here.loops or (len(here.path) > 1 and not method):
            # A closure or callback handed to something else (`optimizer.step(closure)`,
            # `trainer.set_callback(..., on_batch_end)`): it runs where it is defined.
            chain.append((here.func, here))
            continue
        break
    return chain


def _blocks_owned(site: Site, scope, outside_loops: bool = False) -> list:
    """The blocks on the way to `site` that belong to `scope` (not a nested def), outermost first.

    With `outside_loops`, stop at the first loop body: a run started there would start once per iteration.
    """
    owner = None
    out = []
    for blk, stmt in site.path:
        if owner is scope:
            out.append(blk)
            if outside_loops and isinstance(stmt, (cst.For, cst.While)):
                break
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            owner = stmt
    return out


def _main_guard(stmt) -> bool:
    return isinstance(stmt, cst.If) and "__name__" in cst.Module(body=[]).code_for_node(stmt.test)


def _entry(a: Analysis, chain: list) -> int | None:
    """Index in `chain` of the function the module level calls once (`main()`, not per epoch in a loop, not
    twice in a row): the run belongs inside it, even when its configuration is a module global."""
    if len(chain) >= 2 and chain[-1][0] is None and not chain[-1][1].loops and isinstance(chain[-1][1], CallSite):
        name = chain[-1][1].name
        if sum(1 for c in a.calls if c.func is None and c.name == name) == 1:
            return len(chain) - 2
    return None


def _module_driver(a: Analysis, s: Site, cfg, worker) -> Driver:
    """A run started at module level goes inside `if __name__ == "__main__":`, never where an import runs it."""
    block = _blocks_owned(s, None, outside_loops=True)[0]
    anchor = s.stmt_in(block)
    for blk in _blocks_owned(s, None, outside_loops=True)[1:]:
        if not _main_guard(anchor):
            break
        block, anchor = blk, s.stmt_in(blk)
    return Driver(None, block, anchor, s, cfg, worker)


def find_driver(a: Analysis, site: Site, climb: bool = True) -> Driver:
    """Pick the scope and statement where the run starts: the outermost caller that knows the config."""
    chain = call_chain(a, site) if climb else [(site.func, site)]
    worker = climb and chain[-1][0] is not None and spawned_by(a, chain[-1][0]) is not None
    entry = _entry(a, chain)
    for i in reversed(range(len(chain))):
        scope, s = chain[i]
        if scope is None and entry is not None:
            continue
        blocks = _blocks_owned(s, scope, outside_loops=True)
        for blk in reversed(blocks):
            anchor = s.stmt_in(blk)
            cfg = statement_config(a, blk, anchor, scope)
            if cfg:
                if scope is None:
                    return _module_driver(a, s, cfg, worker) if blk is blocks[0] else Driver(
                        scope, blk, anchor, s, cfg, worker)
                return Driver(scope, blk, anchor, s, cfg, worker)
        if scope is not None:
            cfg = param_config(a, scope) or self_config(a, scope)
            if cfg is None and (i == entry or (worker and i == len(chain) - 1)):
                cfg = parameters_config(a, scope, chain[i + 1][1] if i + 1 < len(chain) else spawned_by(a, scope))
            spawner = spawned_by(a, scope) if worker and i == len(chain) - 1 else None
            if cfg is None and (i == entry or spawner is not None):
                # Module globals are this function's config too (read before the call or the spawn).
                top = (chain[-1][1] if i == entry else spawner).stmt_in(a.module)
                if top is not None:
                    cfg = statement_config(a, a.module, top, None) or module_constants(a, top)
            if cfg and blocks:
                return Driver(scope, blocks[0], s.stmt_in(blocks[0]), s, cfg, worker)
        elif blocks:
            cfg = module_constants(a, s.stmt_in(blocks[0]))
            if cfg:
                return _module_driver(a, s, cfg, worker)
    if chain[-1][0] is not None and not worker:
        entry_driver = _after_entry_config(a, chain[-1][1])
        if entry_driver:
            return entry_driver
    # No configuration anywhere: the outermost function of the chain (module level only for a script with no def,
    # or when the training code is a callback defined at module level).
    if chain[-1][0] is None and not isinstance(chain[-1][1], CallSite):
        return _module_driver(a, chain[-1][1], None, worker)
    functions = [(scope, s) for scope, s in chain if scope is not None]
    scope, s = functions[-1] if functions else chain[-1]
    block = _blocks_owned(s, scope, outside_loops=True)[-1] if scope is None else _blocks_owned(s, scope)[0]
    return Driver(scope, block, s.stmt_in(block), s, None, worker)


def _after_entry_config(a: Analysis, site: Site) -> Driver | None:
    """Nothing in the script is seen calling the training code (e.g. `layer.train()` on objects built in a loop):
    start the run right after the configuration is parsed at the entry point (`if __name__ == "__main__":`)."""
    for s in reversed(a.assigns):
        if s.func is not None or s.loops or not isinstance(s.stmt, cst.SimpleStatementLine):
            continue
        if len(s.path) < 2 or s.path[0][0] is not a.module or not all(_main_guard(st) for _, st in s.path[:-1]):
            continue  # only under `if __name__ == "__main__":`, never where an import would start a run
        cfg = statement_config(a, s.block, None, None, upto_end=True)
        if cfg and cfg.stmt_site is s:
            return Driver(None, s.block, s.stmt, s, cfg, False, after=True)
    return None


def rank_condition(a: Analysis, driver: Driver) -> tuple[str | None, tuple]:
    """Code for "this is the main process" in the driver's scope, or None when the script is not distributed."""
    if not is_distributed(a):
        return None, ()
    visible = set()
    if driver.scope is not None:
        p = driver.scope.params
        visible.update(x.name.value for x in (*p.posonly_params, *p.params, *p.kwonly_params))
    for s in a.assigns:
        if s.func is driver.scope or s.func is None:
            for t in (s.node.targets if isinstance(s.node, cst.Assign) else [s.node]):
                tgt = t.target
                elems = [e.value for e in tgt.elements] if isinstance(tgt, (cst.Tuple, cst.List)) else [tgt]
                visible.update(e.value for e in elems if isinstance(e, cst.Name))
    fabric = _fabric(a)
    if fabric and fabric in visible:
        return f"{fabric}.is_global_zero", ()
    for name in RANK_BOOLS:
        if name in visible:
            return name, ()
    for name in RANK_INTS:
        if name in visible:
            return f"{name} == 0", ()
    if driver.config and driver.config.expr.startswith("vars("):
        cfg = driver.config.expr[5:-1]
        code = a.module.code
        for name in ("rank", "local_rank"):
            if f"{cfg}.{name}" in code:
                return f"{cfg}.{name} in (0, -1)", ()
    spawner = spawned_by(a, driver.scope) if driver.worker and driver.scope is not None else None
    if spawner is not None and (spawner.name or "").endswith("spawn"):
        first = _param_list(driver.scope)[:1]
        if first:  # mp.spawn passes the process index first, and sets no RANK variable
            return f"{first[0]} == 0", ()
    imports = () if "os" in a.imports else ("import os",)
    return 'int(os.environ.get("RANK", "0")) == 0', imports


def _param_list(func: cst.FunctionDef) -> list[str]:
    p = func.params
    return [x.name.value for x in (*p.posonly_params, *p.params)]


def init_call(opts, config: Config | None, extra: str = "") -> str:
    args = []
    if opts.project:
        args.append(f"project={json.dumps(opts.project)}")
    if opts.entity:
        args.append(f"entity={json.dumps(opts.entity)}")
    if config:
        args.append(f"config={config.expr}")
    if extra:
        args.append(extra)
    return f"wandb.init({', '.join(args)})"


def start_run(plan: Plan, driver: Driver, opts, extra_init: str = "") -> None:
    """Insert `wandb.init` before the driver's anchor and `wandb.finish()` where the driver's block ends."""
    a = plan.analysis
    cond, imports = rank_condition(a, driver)
    for imp in imports + (driver.config.imports if driver.config else ()):
        plan.add_import(imp)
    call = init_call(opts, driver.config, extra_init)
    if cond:
        init = f"if {cond}:  {MARK}\n    {call}"
        plan.notes.append(f"distributed script: the run exists only where `{cond}`")
    else:
        init = f"{call}  {MARK}"
    plan.insert(driver.site, "after" if driver.after else "before", init, "wandb.init", block=driver.block,
                stmt=driver.anchor)
    # wandb.finish() is a no-op where no run was started (other ranks); when training ends the block with
    # `return train(...)`, W&B's exit hook finishes the run.
    if not plan.at_end(driver.site, driver.block, f"wandb.finish()  {MARK}", "wandb.finish", anchor=driver.anchor):
        plan.notes.append("no wandb.finish() added: the training call ends its block (return ...), so W&B's exit "
                          "hook finishes the run when the script ends")
    plan.add_import("import wandb")
    if driver.config:
        plan.notes.append(f"config: {driver.config.source}")
    else:
        plan.warnings.append("no configuration object found (argparse, Hydra, dataclass, dict): "
                             "wandb.init gets no config; pass one with `wandb.config.update(...)`")
    if driver.worker:
        plan.notes.append(f"the run starts inside the worker function `{driver.scope.name.value}`, "
                          "not in the parent that spawns it")
