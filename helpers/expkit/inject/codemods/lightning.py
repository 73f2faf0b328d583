"""Lightning: a WandbLogger in the Trainer's `logger` (existing loggers kept: a list), or LightningCLI defaults.

WandbLogger logs only from global rank zero, so multi-device Trainers need nothing more.
"""

from __future__ import annotations

import json

import libcst as cst

from expkit.inject.analyze import Analysis
from expkit.inject.codemods._args import append_to, assigned_name, expr, get_kwarg, set_kwarg
from expkit.inject.codemods.loop import Unplaceable
from expkit.inject.edits import MARK, Plan

DESCRIPTION = "Lightning: WandbLogger added to Trainer(logger=...)"
PACKAGES = ("lightning", "pytorch_lightning")


def _package(a: Analysis) -> str:
    return "lightning.pytorch" if a.uses("lightning") else "pytorch_lightning"


def _calls(a: Analysis, suffix: str):
    return [c for c in a.calls if (c.qualname or "").split(".")[0] in PACKAGES
            and (c.qualname or "").endswith(suffix)]


def applies(a: Analysis) -> bool:
    return bool(_calls(a, ".Trainer") or _calls(a, "LightningCLI"))


def _logger_args(opts) -> str:
    args = []
    if opts.project:
        args.append(f"project={json.dumps(opts.project)}")
    if opts.entity:
        args.append(f"entity={json.dumps(opts.entity)}")
    return ", ".join(args)


TENSORBOARD_API = ("add_image", "add_images", "add_scalar", "add_scalars", "add_histogram", "add_figure", "add_graph",
                   "add_text", "add_embedding", "add_video", "add_audio", "add_pr_curve", "add_hparams", "add_mesh")


def tensorboard_calls(a: Analysis) -> list:
    """`logger.experiment.add_image(...)` and the like: TensorBoard's SummaryWriter API called through a logger."""
    return [c for c in a.calls if (c.name or "").rsplit(".", 1)[-1] in TENSORBOARD_API
            and ".experiment." in (c.name or "") and c.path]


def plan(plan: Plan, opts) -> None:
    a = plan.analysis
    tb = tensorboard_calls(a)
    if tb and _calls(a, ".Trainer"):
        line = a.line_of(tb[0].stmt)
        raise Unplaceable(
            f"line {line} calls `{tb[0].name}(...)`, TensorBoard's API, on the Trainer's logger: a WandbLogger in "
            "logger= has no such method and the run would crash at that line",
            "guard it (`if isinstance(logger, TensorBoardLogger):`) then inject again, or keep TensorBoard and "
            "run with `wandb.init(sync_tensorboard=True)`", line)
    logger = f"WandbLogger({_logger_args(opts)})"
    for c in _calls(a, ".Trainer"):
        arg = get_kwarg(c.node, "logger")
        if arg is None and any(x.star == "**" for x in c.node.args):
            # Trainer(**kwargs) may already carry a logger: add ours to trainer.loggers after construction.
            target = assigned_name(c)
            if target:
                plan.insert(c, "after", f"{target}.loggers = [*{target}.loggers, {logger}]  {MARK}",
                            "trainer.loggers += [WandbLogger]")
            else:
                plan.warnings.append(f"line {a.line_of(c.node)}: Trainer(**...) is not assigned to a name: "
                                     "add a WandbLogger to its logger yourself")
            continue

        def edit(call, arg=arg):
            if arg is None or (isinstance(arg.value, cst.Name) and arg.value.value in ("True", "False", "None")):
                return set_kwarg(call, "logger", expr(logger))
            return set_kwarg(call, "logger", append_to(get_kwarg(call, "logger").value, logger))

        plan.rewrite_call(c, edit, "Trainer(logger=WandbLogger)")
        if arg is not None and not (isinstance(arg.value, cst.Name) and arg.value.value in ("True", "False", "None")):
            plan.notes.append(f"line {a.line_of(c.node)}: the existing logger is kept; WandbLogger logs beside it")
        if arg is not None and isinstance(arg.value, cst.Name) and arg.value.value == "False":
            plan.warnings.append(f"line {a.line_of(c.node)}: logger=False replaced by a WandbLogger")
    for c in _calls(a, "LightningCLI"):
        init = {"project": opts.project} if opts.project else {}
        if opts.entity:
            init["entity"] = opts.entity
        default = json.dumps({"class_path": f"{_package(a)}.loggers.WandbLogger", "init_args": init})
        arg = get_kwarg(c.node, "trainer_defaults")
        if arg is None:
            plan.rewrite_call(c, lambda call: set_kwarg(call, "trainer_defaults", expr(f'{{"logger": {default}}}')),
                              "LightningCLI(trainer_defaults={logger: WandbLogger})")
        elif isinstance(arg.value, cst.Dict) and not any(
                isinstance(e, cst.DictElement) and isinstance(e.key, cst.SimpleString)
                and e.key.evaluated_value == "logger" for e in arg.value.elements):
            def edit(call):
                d = get_kwarg(call, "trainer_defaults").value
                elems = list(d.elements)
                new = cst.DictElement(expr('"logger"'), expr(default))
                if elems and elems[-1].comma is cst.MaybeSentinel.DEFAULT:
                    elems[-1] = elems[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
                return set_kwarg(call, "trainer_defaults", d.with_changes(elements=[*elems, new]))
            plan.rewrite_call(c, edit, "LightningCLI(trainer_defaults={logger: WandbLogger})")
        else:
            plan.warnings.append(f"line {a.line_of(c.node)}: LightningCLI already sets a logger default or "
                                 "trainer_defaults is not a dict literal: nothing changed; pass "
                                 "--trainer.logger=WandbLogger on the command line")
    if _calls(a, ".Trainer"):
        plan.add_import(f"from {_package(a)}.loggers import WandbLogger")
