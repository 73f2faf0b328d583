"""Custom training loops (plain PyTorch, JAX, anything with a loss): init, per-step loss, eval metrics, finish.

The loss is the tensor `.backward()` is called on (also `scaler.scale(loss).backward()` and
`accelerator.backward(loss)`); without a backward call (JAX), a variable named like a loss assigned inside a
loop. The step is W&B's own counter, which increases by one per `wandb.log` call: monotonic by construction.
"""

from __future__ import annotations

import re

import libcst as cst
import libcst.matchers as m

from expkit.inject.analyze import Analysis, Site, dotted
from expkit.inject.edits import MARK, Plan
from expkit.inject.run import find_driver, start_run

DESCRIPTION = "custom loop: wandb.init + wandb.log(loss, eval metrics) + wandb.finish where training ends"

METRIC = re.compile(r"^((val|valid|validation|test|eval|dev)_?(loss|acc|accuracy|ppl|perplexity|score|f1|auc)"
                    r"|.*(accuracy|acc|f1|auc|ppl|perplexity|bleu|rouge|precision|recall|correct|top1|top5|"
                    r"mse|mae|rmse|iou|dice|error)$)", re.IGNORECASE)
REPORTERS = {"print", "tqdm.write", "pprint", "rich.print", "console.print", "logging.info", "logging.warning"}
EVAL_CONTEXT = re.compile(r"(test|eval|valid|val_|_val|dev)", re.IGNORECASE)


class Unplaceable(Exception):
    """No safe place: carries what could not be done, a snippet and the line it belongs at."""

    def __init__(self, message: str, snippet: str, line: int | None):
        super().__init__(message)
        self.message, self.snippet, self.line = message, snippet, line


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _loss_from_expr(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    if isinstance(expr, (cst.Name, cst.Attribute, cst.Subscript)):
        return expr
    # scaler.scale(loss).backward()
    if isinstance(expr, cst.Call) and (dotted(expr.func) or "").endswith(".scale") and expr.args:
        return _loss_from_expr(expr.args[0].value)
    # (loss / accum_steps).backward(): log the loss itself
    for name in m.findall(expr, m.Name()):
        if "loss" in name.value.lower():
            return name
    return None


def loss_sites(a: Analysis) -> list[tuple[Site, str, str]]:
    """[(site, key, value code)] for each place a training loss becomes available."""
    out = []
    for c in a.calls:
        func = c.node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "backward") or not c.path \
                or not isinstance(c.stmt, cst.SimpleStatementLine):
            continue
        if c.node.args and not c.node.args[0].keyword and isinstance(func.value, cst.Name):
            loss = _loss_from_expr(c.node.args[0].value)  # accelerator.backward(loss), fabric.backward(loss)
        elif not c.node.args or all(arg.keyword for arg in c.node.args):
            loss = _loss_from_expr(c.node.func.value)
        else:
            loss = None
        if loss is None:
            continue
        code = _code(loss)
        out.append((c, _key(code), f"{code}.item()"))
    if out:
        return out
    for s in a.assigns:  # JAX/numpy: `params, opt_state, loss = update(...)` inside a loop
        if not s.loops or not isinstance(s.stmt, cst.SimpleStatementLine):
            continue
        targets = s.node.targets if isinstance(s.node, cst.Assign) else [s.node]
        for t in targets:
            tgt = t.target
            elems = [e.value for e in tgt.elements] if isinstance(tgt, (cst.Tuple, cst.List)) else [tgt]
            for e in elems:
                if isinstance(e, cst.Name) and e.value.lower() in ("loss", "train_loss", "batch_loss", "step_loss"):
                    out.append((s, _key(e.value), f"float({e.value})"))
    return out


def _key(code: str) -> str:
    last = re.split(r"[.\[\]'\"]+", code.strip("'\"]"))[-1] or "loss"
    return "train/loss" if last in ("loss", "train_loss") else f"train/{last}"


def metric_sites(a: Analysis, exclude: set[str]) -> list[tuple[Site, dict]]:
    """Prints/log lines that report evaluation metrics: [(site, {key: name})]."""
    out, logged = [], {}
    for c in a.calls:
        name = c.name or ""
        if not (name in REPORTERS or name.endswith((".info", ".print", ".echo"))) or not c.path:
            continue
        stmt = c.stmt
        if not isinstance(stmt, cst.SimpleStatementLine) or not m.matches(stmt.body[0], m.Expr(value=m.Call())):
            continue
        if stmt.body[0].value is not c.node:
            continue
        found = {}
        for n in m.findall(c.node, m.Name()):
            v = n.value
            if v in exclude or v.startswith("_") or not METRIC.match(v):
                continue
            where = c.func.name.value if c.func else ""
            prefix = "eval" if EVAL_CONTEXT.search(v) or EVAL_CONTEXT.search(where) else "train"
            found[f"{prefix}/{v}"] = v
        seen = logged.setdefault(id(c.func), set())
        if found and not set(found) <= seen:  # a final summary print repeats what an earlier one logged
            seen.update(found)
            out.append((c, found))
    return out


def no_loss(a: Analysis) -> Unplaceable:
    loop = a.loops[0] if a.loops else None
    return Unplaceable(
        "no loss in sight: found no `.backward()` call and no loss variable assigned in a loop",
        'wandb.log({"train/loss": loss.item()})  # inside the training loop, after the loss is computed',
        a.line_of(loop.node) if loop else None)


def plan(plan: Plan, opts) -> None:
    losses = loss_sites(plan.analysis)
    if not losses:
        raise no_loss(plan.analysis)
    start_run(plan, find_driver(plan.analysis, losses[0][0]), opts)
    log_steps(plan, losses)


def log_steps(plan: Plan, losses) -> None:
    """`wandb.log` of the loss after each place it becomes available, and of metrics where they are printed."""
    done = set()
    for site, key, value in losses:
        if id(site.stmt) in done:
            continue
        done.add(id(site.stmt))
        plan.insert(site, "after", f'if wandb.run is not None:  {MARK}\n    wandb.log({{"{key}": {value}}})',
                    "wandb.log(loss)")
    exclude = {name for _, _, v in losses for name in re.findall(r"[A-Za-z_]\w*", v)} | {"loss"}
    for site, metrics in metric_sites(plan.analysis, exclude):
        if id(site.stmt) in done:
            continue
        done.add(id(site.stmt))
        payload = "{" + ", ".join(f'"{k}": {v}' for k, v in metrics.items()) + "}"
        plan.insert(site, "after", f"if wandb.run is not None:  {MARK}\n    wandb.log({payload})",
                    "wandb.log(metrics)")
