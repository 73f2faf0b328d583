"""HF Trainer (and every TRL trainer): make `report_to` include "wandb" (existing values kept). The project goes
through WANDB_PROJECT.

`report_to` belongs to the training-arguments object only: `TrainingArguments(...)` and its subclasses
(Seq2SeqTrainingArguments, TRL's SFTConfig, DPOConfig, GRPOConfig, ..., and the script's own subclasses of them),
built directly or parsed by `HfArgumentParser` / `TrlParser`, where the parsed object at that class's position
gets "wandb" appended right after parsing. Never `model_args` / `data_args`, whatever their class is called.
"""

from __future__ import annotations

import libcst as cst

from expkit.inject.analyze import Analysis, dotted
from expkit.inject.codemods._args import append_to, assigned_name, expr, get_kwarg, set_kwarg, string_values
from expkit.inject.codemods.loop import Unplaceable
from expkit.inject.edits import MARK, Plan

DESCRIPTION = 'HF Trainer: report_to includes "wandb"'


NOT_TRAINING = {"ModelConfig", "DatasetMixtureConfig", "ScriptArguments", "GenerationConfig", "LoraConfig",
                "BitsAndBytesConfig", "PeftConfig", "AutoConfig", "PretrainedConfig"}
PARSERS = ("HfArgumentParser", "TrlParser")


class _Classes:
    """Which class names of one script are TrainingArguments (or a subclass): built once per script."""

    def __init__(self, a: Analysis):
        self.a = a
        self.local = {st.name.value: [b.value for b in st.bases] for st in a.module.body
                      if isinstance(st, cst.ClassDef)}
        self.trl = a.uses("trl") or any((c.name or "").endswith("TrlParser") for c in a.calls)

    def training_args(self, name: str | None, seen: frozenset = frozenset()) -> bool:
        """Imported from transformers/TRL, or the script's own subclass of one. Unresolved names (imports
        inside a function) go by HF/TRL naming."""
        if not name:
            return False
        if name in self.local:
            return any(self.training_args(dotted(b), seen | {name}) for b in self.local[name] if dotted(b) not in seen)
        last = name.rsplit(".", 1)[-1]
        if last in NOT_TRAINING or not last.endswith(("Arguments", "Config")):
            return False
        q = self.a.qualify(name) or ""
        if q.startswith("transformers."):
            return last.endswith("TrainingArguments")
        if q.startswith("trl."):
            return True
        if q:
            return False
        return last.endswith("TrainingArguments") or (last.endswith("Config") and self.trl)


    def trainer(self, name: str | None, seen: frozenset = frozenset()) -> bool:
        """A transformers/TRL Trainer (SFTTrainer, DPOTrainer, GRPOTrainer, ...) or the script's subclass of one."""
        if not name or not name.rsplit(".", 1)[-1].endswith("Trainer"):
            return bool(name in self.local and any(self.trainer(dotted(b), seen | {name}) for b in self.local[name]
                                                   if dotted(b) not in seen))
        if name in self.local:
            return any(self.trainer(dotted(b), seen | {name}) for b in self.local[name] if dotted(b) not in seen)
        q = self.a.qualify(name) or ""
        return q.startswith(("transformers.", "trl.")) or (not q and self.trl)


def _trainer_calls(a: Analysis, classes: _Classes):
    return [c for c in a.calls if c.name and classes.trainer(c.name) and c.path]


def _args_calls(a: Analysis, classes: _Classes):
    return [c for c in a.calls if c.name and classes.training_args(c.name) and c.path]


def _parser_calls(a: Analysis):
    return [c for c in a.calls if (c.name or "").rsplit(".", 1)[-1] in PARSERS and c.path]


def applies(a: Analysis) -> bool:
    classes = _Classes(a)
    return bool(_parser_calls(a) or _args_calls(a, classes) or _trainer_calls(a, classes))


def plan(plan: Plan, opts) -> None:
    a = plan.analysis
    classes = _Classes(a)
    for c in _args_calls(a, classes):
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
            plan.existing.append({"line": a.line_of(c.node), "code": f"report_to={values!r}"})
            continue
        if values is not None and all(v == "none" for v in values):
            plan.rewrite_call(c, lambda call: set_kwarg(call, "report_to", expr('["wandb"]')), 'report_to=["wandb"]')
        else:
            plan.rewrite_call(c, lambda call: set_kwarg(call, "report_to", append_to(
                get_kwarg(call, "report_to").value, '"wandb"')), 'report_to += ["wandb"]')
    for name in _parsed_training_args(a, classes):
        site, target = name
        plan.insert(site, "after", _append_wandb(target), 'report_to += ["wandb"]')
    if plan.empty and not plan.existing:
        _through_trainer(plan, classes)
    plan.notes.append("the W&B project comes from WANDB_PROJECT (`expkit launch --wandb-project P` sets it)")
    if opts.project or opts.entity:
        plan.notes.append("--project/--entity are not written into an HF Trainer script: set WANDB_PROJECT / "
                          "WANDB_ENTITY in the run's environment")


def _through_trainer(plan: Plan, classes: _Classes) -> None:
    """No TrainingArguments built or parsed in sight: set report_to on what each Trainer gets as `args`, before
    the Trainer is made (it reads report_to when it starts)."""
    a = plan.analysis
    trainers = _trainer_calls(a, classes)
    for c in trainers:
        arg = get_kwarg(c.node, "args")
        if arg is None and len(c.node.args) > 1 and not c.node.args[1].keyword and not c.node.args[1].star:
            arg = c.node.args[1]  # Trainer(model, args, ...)
        if arg is not None and isinstance(arg.value, (cst.Name, cst.Attribute)):
            plan.insert(c, "before", _append_wandb(dotted(arg.value)), 'report_to += ["wandb"]')
            continue
        line = a.line_of(c.stmt)
        raise Unplaceable(f"line {line}: {c.name}(...) gets no training arguments object to set report_to on",
                          f'pass args=TrainingArguments(..., report_to=["wandb"]) (or the TRL config) to {c.name}',
                          line)


def _append_wandb(target: str) -> str:
    return (f'if "wandb" not in {target}.report_to:  {MARK}\n'
            f'    {target}.report_to = [*{target}.report_to, "wandb"]')


def _parser_classes(a: Analysis, parser, classes: _Classes) -> list:
    """The dataclass types handed to a parser: a tuple/list literal, one class, or a name bound to a tuple."""
    first = parser.node.args[0].value
    if isinstance(first, cst.Name) and not classes.training_args(first.value):
        for s in a.assigns:
            if s.func is parser.func and isinstance(s.node, cst.Assign) \
                    and dotted(s.node.targets[0].target) == first.value:
                first = s.node.value
                break
    return [e.value for e in first.elements] if isinstance(first, (cst.Tuple, cst.List)) else [first]


def _parsed_training_args(a: Analysis, classes: _Classes):
    """(site, name) of each variable that receives the training arguments from an HfArgumentParser/TrlParser:
    `m, d, training_args = parser.parse_args_into_dataclasses()` or `args = parser.parse_...()[0]`."""
    out = []
    for parser in _parser_calls(a):
        if not parser.node.args:
            continue
        types = _parser_classes(a, parser, classes)
        idx = next((i for i, cls in enumerate(types) if classes.training_args(dotted(cls))), None)
        if idx is None:
            continue
        for s in a.assigns:
            v = s.node.value
            index = None
            if isinstance(v, cst.Subscript) and len(v.slice) == 1 and isinstance(v.slice[0].slice, cst.Index) \
                    and isinstance(v.slice[0].slice.value, cst.Integer):
                index, v = int(v.slice[0].slice.value.value), v.value
            if not (isinstance(v, cst.Call) and (dotted(v.func) or "").rsplit(".", 1)[-1].startswith("parse_")):
                continue
            t = s.node.targets[0].target if isinstance(s.node, cst.Assign) else s.node.target
            if index is not None:
                if index == idx and isinstance(t, cst.Name):
                    out.append((s, t.value))
                continue
            elems = [e.value for e in t.elements] if isinstance(t, (cst.Tuple, cst.List)) else None
            if elems is not None and idx < len(elems) and isinstance(elems[idx], cst.Name):
                out.append((s, elems[idx].value))
            elif elems is None and isinstance(t, cst.Name) and len(types) == 1:
                out.append((s, t.value))
    return out
