"""HF Trainer: make `report_to` include "wandb" (existing values kept). The project goes through WANDB_PROJECT.

Handles `TrainingArguments(...)` (and Seq2Seq/other `*TrainingArguments`) and arguments parsed by
`HfArgumentParser`, where the parsed training arguments get "wandb" appended right after parsing.
"""

from __future__ import annotations

import libcst as cst

from expkit.inject.analyze import Analysis, dotted
from expkit.inject.codemods._args import append_to, assigned_name, expr, get_kwarg, set_kwarg, string_values
from expkit.inject.edits import MARK, Plan

DESCRIPTION = 'HF Trainer: report_to includes "wandb"'


def _args_calls(a: Analysis):
    return [c for c in a.calls if (c.qualname or "").startswith("transformers.")
            and (c.qualname or "").endswith("TrainingArguments")]


def _parser_calls(a: Analysis):
    return [c for c in a.calls if (c.qualname or "").endswith("HfArgumentParser")]


def applies(a: Analysis) -> bool:
    return bool(_args_calls(a) or _parser_calls(a))


def plan(plan: Plan, opts) -> None:
    a = plan.analysis
    for c in _args_calls(a):
        arg = get_kwarg(c.node, "report_to")
        if arg is None and any(x.star == "**" for x in c.node.args):
            # TrainingArguments(**kwargs) may already carry report_to: extend it after construction instead.
            target = assigned_name(c)
            if target:
                plan.insert(c, "after", _append_wandb(target), 'report_to += ["wandb"]')
            else:
                plan.warnings.append(f"line {a.line_of(c.node)}: TrainingArguments(**...) is not assigned to a "
                                     'name: add "wandb" to its report_to yourself')
            continue
        if arg is None:
            plan.rewrite_call(c, lambda call: set_kwarg(call, "report_to", expr('["wandb"]')), 'report_to=["wandb"]')
            continue
        values = string_values(arg.value)
        if values is not None and ("wandb" in values or "all" in values):
            plan.notes.append(f"line {a.line_of(c.node)}: report_to already includes wandb")
            continue
        if values is not None and all(v == "none" for v in values):
            plan.rewrite_call(c, lambda call: set_kwarg(call, "report_to", expr('["wandb"]')), 'report_to=["wandb"]')
        else:
            plan.rewrite_call(c, lambda call: set_kwarg(call, "report_to", append_to(
                get_kwarg(call, "report_to").value, '"wandb"')), 'report_to += ["wandb"]')
    for name in _parsed_training_args(a):
        site, target = name
        plan.insert(site, "after", _append_wandb(target), 'report_to += ["wandb"]')
    plan.notes.append("the W&B project comes from WANDB_PROJECT (`expkit launch --wandb-project P` sets it)")
    if opts.project or opts.entity:
        plan.notes.append("--project/--entity are not written into an HF Trainer script: set WANDB_PROJECT / "
                          "WANDB_ENTITY in the run's environment")


def _append_wandb(target: str) -> str:
    return (f'if "wandb" not in {target}.report_to:  {MARK}\n'
            f'    {target}.report_to = [*{target}.report_to, "wandb"]')


def _parsed_training_args(a: Analysis):
    """(site, name) of each variable that receives TrainingArguments from an HfArgumentParser."""
    out = []
    for parser in _parser_calls(a):
        if not parser.node.args:
            continue
        first = parser.node.args[0].value
        classes = [e.value for e in first.elements] if isinstance(first, (cst.Tuple, cst.List)) else [first]
        idx = next((i for i, cls in enumerate(classes) if (dotted(cls) or "").endswith("TrainingArguments")), None)
        if idx is None:
            continue
        for s in a.assigns:
            v = s.node.value
            if not (isinstance(v, cst.Call) and (dotted(v.func) or "").rsplit(".", 1)[-1].startswith("parse_")):
                continue
            t = s.node.targets[0].target if isinstance(s.node, cst.Assign) else s.node.target
            elems = [e.value for e in t.elements] if isinstance(t, (cst.Tuple, cst.List)) else None
            if elems is not None and idx < len(elems) and isinstance(elems[idx], cst.Name):
                out.append((s, elems[idx].value))
    return out
