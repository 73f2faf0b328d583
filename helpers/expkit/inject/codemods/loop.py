"""Custom training loops (plain PyTorch, JAX, anything with a loss): init, per-step loss, eval metrics, finish.

The loss is the tensor `.backward()` is called on (also `scaler.scale(loss).backward()` and
`accelerator.backward(loss)`); without a backward call (JAX), a variable named like a loss assigned inside a
loop. The step is W&B's own counter, which increases by one per committed `wandb.log` call: monotonic by
construction, and one per training iteration because each iteration commits once.
"""

from __future__ import annotations

import re
from dataclasses import replace

import libcst as cst
import libcst.matchers as m

from expkit.inject.analyze import Analysis, Site, dotted
from expkit.inject.edits import MARK, Plan
from expkit.inject.run import find_driver, start_run

DESCRIPTION = "custom loop: wandb.init + wandb.log(loss, eval metrics) + wandb.finish where training ends"

_QUANTITY = (r"loss|acc|accuracy|acc1|acc5|top1|top5|prec1|prec5|ppl|perplexity|score|f1|auc|bleu|rouge|precision|recall|"
             r"correct|mse|mae|rmse|iou|dice|error|psnr|ssim|reward|return|metric|metrics|wer|cer")
METRIC = re.compile(rf"^((val|valid|validation|test|eval|dev)_?\w*({_QUANTITY})"
                    rf"|({_QUANTITY})_(val|valid|test|eval|train)|\w*({_QUANTITY.replace('loss|', '')}))$", re.IGNORECASE)
REPORTERS = {"print", "tqdm.write", "pprint", "rich.print", "console.print", "logging.info", "logging.warning"}
EVAL_CONTEXT = re.compile(r"(test|eval|valid|val_|_val|dev)", re.IGNORECASE)
REDUCTIONS = ("mean", "sum")


class Unplaceable(Exception):
    """No safe place: carries what could not be done, a snippet and the line it belongs at."""

    def __init__(self, message: str, snippet: str, line: int | None):
        super().__init__(message)
        self.message, self.snippet, self.line = message, snippet, line


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _loss_from_expr(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    """The scalar tensor behind a backward call, as an expression safe to evaluate again, or None.

    `X.backward()` (no gradient argument) only works on a scalar tensor, so `X.item()` is proven for a named X.
    `(loss / k).backward()` logs `loss`; `loss.mean().backward()` (a per-sample loss) logs the mean; an unnamed
    call such as `loss_fn(out, y).backward()` is not re-run to log it (it would repeat the forward pass)."""
    if isinstance(expr, (cst.Name, cst.Attribute, cst.Subscript)):
        return expr
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
        if expr.func.attr.value == "scale" and expr.args:  # scaler.scale(loss).backward()
            return _loss_from_expr(expr.args[0].value)
        if expr.func.attr.value in REDUCTIONS and not expr.args \
                and isinstance(expr.func.value, (cst.Name, cst.Attribute)):
            return expr
    if isinstance(expr, cst.BinaryOperation):  # (loss / accum_steps).backward(): log the loss itself
        for side in (expr.left, expr.right):
            found = _loss_from_expr(side)
            if found is not None and "loss" in _code(found).lower():
                return found
    return None


def _scaled_by_context(site: Site, expr) -> tuple | None:
    """For `with amp.scale_loss(loss, optimizer) as scaled_loss: scaled_loss.backward()` (NVIDIA apex), the
    unscaled `loss` and a site at the `with` statement: the scaled value is the loss times the loss scale."""
    if not isinstance(expr, cst.Name):
        return None
    for i, node in enumerate(site.ancestors):
        if not isinstance(node, cst.With):
            continue
        for item in node.items:
            call = item.item
            if isinstance(call, cst.Call) and (dotted(call.func) or "").endswith("scale_loss") and call.args \
                    and item.asname is not None and isinstance(item.asname.name, cst.Name) \
                    and item.asname.name.value == expr.value:
                depth = next(k for k, (_, st) in enumerate(site.path) if st is node)
                return replace(site, node=node, path=site.path[:depth + 1], ancestors=site.ancestors[:i]), \
                    call.args[0].value
    return None


def _divided(site: Site, name: str) -> str | None:
    """`k` when the block divides the loss before its backward call (`loss = loss / k`, `loss /= k`)."""
    block, stmt = site.block, site.stmt
    for prev in block.body[:next(i for i, st in enumerate(block.body) if st is stmt)]:
        if not isinstance(prev, cst.SimpleStatementLine):
            continue
        small = prev.body[0]
        if isinstance(small, cst.AugAssign) and _code(small.target) == name \
                and isinstance(small.operator, cst.DivideAssign):
            return _code(small.value)
        if isinstance(small, cst.Assign) and _code(small.targets[0].target) == name \
                and isinstance(small.value, cst.BinaryOperation) and isinstance(small.value.operator, cst.Divide) \
                and _code(small.value.left) == name:
            return _code(small.value.right)
    return None


def loss_sites(a: Analysis, skipped: list | None = None) -> list[tuple[Site, str, str]]:
    """[(site, key, value code)] for each place a training loss becomes available.

    `skipped` collects (site, expression) of backward calls whose loss cannot be logged without re-running it."""
    out = []
    for c in a.calls:
        func = c.node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "backward") or not c.path \
                or not isinstance(c.stmt, cst.SimpleStatementLine):
            continue
        if c.node.args and not c.node.args[0].keyword and isinstance(func.value, cst.Name):
            expr = c.node.args[0].value  # accelerator.backward(loss), fabric.backward(loss)
        elif not c.node.args or all(arg.keyword for arg in c.node.args):
            expr = c.node.func.value
        else:
            continue
        scaled = _scaled_by_context(c, expr)
        if scaled is not None:  # `with amp.scale_loss(loss, opt) as scaled: scaled.backward()`: log `loss`
            c, expr = scaled
        loss = _loss_from_expr(expr)
        if loss is None:
            if skipped is not None:
                skipped.append((c, _code(expr)))
            continue
        code = _code(loss)
        value = f"{code}.item()"
        k = _divided(c, code) if isinstance(loss, cst.Name) else None
        if k is not None:
            value = f"{code}.item() * {k}"  # the loss as the model sees it, not divided for accumulation
        out.append((c, _key(code), value))
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


def skipped_notes(a: Analysis, skipped: list) -> list[str]:
    return [f"line {a.line_of(site.stmt)}: the loss `{expr}` has no name, so it is not logged (logging it would run "
            f"it again): write `loss = {expr}` and `loss.backward()` to have it logged" for site, expr in skipped]


def _key(code: str) -> str:
    code = re.sub(r"\.(mean|sum)\(\)$", "", code)
    last = re.split(r"[.\[\]'\"]+", code.strip("'\"]"))[-1] or "loss"
    return "train/loss" if last in ("loss", "train_loss") else f"train/{last}"


def _metric_value(a: Analysis, node: cst.CSTNode, name: str) -> str:
    """How to log a metric variable: a torchmetrics Metric (reported as `m.compute()`) logs `m.compute()`."""
    for call in m.findall(node, m.Call(func=m.Attribute(value=m.Name(name), attr=m.Name("compute")))):
        if not call.args:
            return f"{name}.compute()"
    return name


def _reported_items(node) -> list[str]:
    """`x.loss.item()` inside a print: attribute chains named like a loss that the script itself turns into a number."""
    out = []
    for call in m.findall(node, m.Call(func=m.Attribute(attr=m.Name("item")), args=())):
        base = dotted(call.func.value)
        if base and "." in base and "loss" in base.rsplit(".", 1)[-1].lower():
            out.append(f"{base}.item()")
    return out


def _is_metric_object(a: Analysis, name: str) -> bool:
    for s in a.assigns:
        t = s.node.targets[0].target if isinstance(s.node, cst.Assign) else None
        if isinstance(t, cst.Name) and t.value == name and isinstance(s.node.value, cst.Call):
            q = a.qualify(dotted(s.node.value.func)) or ""
            if q.startswith("torchmetrics") or ".metrics." in q or q.endswith("MultiMetric"):
                return True
    return False


def source_order(site: Site) -> tuple:
    """A sort key in source order, from the statement path (rendering the module for line numbers costs more)."""
    return tuple(next(i for i, st in enumerate(blk.body) if st is stmt) for blk, stmt in site.path)


def metric_sites(a: Analysis, exclude: set[str]) -> list[tuple[Site, dict]]:
    """Evaluation metrics: where a print/log line reports them, and where an eval call's result is assigned
    (`acc1 = validate(...)`, `val_loss = evaluate(...)`). [(site, {key: value code})], each name once per scope."""
    out, logged = [], {}
    candidates = []
    for c in a.calls:
        name = c.name or ""
        if not (name in REPORTERS or name.endswith((".info", ".print", ".echo"))) or not c.path:
            continue
        stmt = c.stmt
        if not isinstance(stmt, cst.SimpleStatementLine) or not m.matches(stmt.body[0], m.Expr(value=m.Call())):
            continue
        if stmt.body[0].value is not c.node:
            continue
        candidates.append((c, c.node, [n.value for n in m.findall(c.node, m.Name())] + _reported_items(c.node)))
    for s in a.assigns:
        v = s.node.value
        if not (isinstance(s.node, cst.Assign) and isinstance(v, cst.Call)
                and isinstance(s.stmt, cst.SimpleStatementLine)):
            continue
        if not EVAL_CONTEXT.search((dotted(v.func) or "").rsplit(".", 1)[-1]) and \
                not (dotted(v.func) or "").endswith(("evaluate", "validate")):
            continue
        t = s.node.targets[0].target
        names = [e.value.value for e in t.elements if isinstance(e.value, cst.Name)] \
            if isinstance(t, (cst.Tuple, cst.List)) else [t.value] if isinstance(t, cst.Name) else []
        candidates.append((s, None, names))
    candidates.sort(key=lambda x: source_order(x[0]))
    for site, node, names in candidates:
        found = {}
        where = site.func.name.value if site.func else ""
        for v in names:
            if v.endswith(".item()"):  # `trainer.loss.item()` in a print: a scalar tensor the script reports
                base = v[: -len(".item()")]
                if base.split(".")[0] not in exclude and base not in exclude:
                    found[f"train/{base.rsplit('.', 1)[-1]}"] = v
                continue
            if v in exclude or v.startswith("_") or not METRIC.match(v):
                continue
            if _is_metric_object(a, v) and (node is None or _metric_value(a, node, v) == v):
                continue  # a Metric object not computed here: its value is not known at this line
            prefix = "eval" if node is None or EVAL_CONTEXT.search(v) or EVAL_CONTEXT.search(where) else "train"
            found[f"{prefix}/{v}"] = _metric_value(a, node, v) if node is not None else v
        seen = logged.setdefault(id(site.func), set())
        new = {k: v for k, v in found.items() if k not in seen}
        if new:  # a final summary print repeats what an earlier line logged
            seen.update(new)
            out.append((site, new))
    return out


def _training_loop(a: Analysis):
    """The loop most likely to be the training loop: one that steps an optimizer or a train_step, else the first."""
    for c in a.calls:
        name = (c.name or "").rsplit(".", 1)[-1]
        if c.loops and (name == "step" or "train_step" in name or name.startswith("train")):
            return c.loops[-1]
    return a.loops[0].node if a.loops else None


def _line_or_none(a: Analysis, node) -> int | None:
    return a.line_of(node) if node is not None else None


def no_loss(a: Analysis) -> Unplaceable:
    loop = _training_loop(a)
    return Unplaceable(
        "no loss in sight: found no `.backward()` call and no loss variable assigned in a loop",
        'wandb.log({"train/loss": loss.item()})  # inside the training loop, after the loss is computed',
        a.line_of(loop) if loop is not None else None)


def plan(plan: Plan, opts) -> None:
    skipped: list = []
    losses = loss_sites(plan.analysis, skipped)
    plan.notes.extend(skipped_notes(plan.analysis, skipped))
    first = (losses or skipped or [(None,)])[0][0]
    if first is None:
        metrics = metric_sites(plan.analysis, set())
        if not metrics:
            raise no_loss(plan.analysis)
        first = metrics[0][0]
        line = _line_or_none(plan.analysis, _training_loop(plan.analysis))
        plan.warnings.append("no `.backward()` and no loss variable in a loop: only the metrics the script reports "
                             "are logged" + (f"; log the loss near line {line}" if line else ""))
    start_run(plan, find_driver(plan.analysis, first), opts)
    log_steps(plan, losses)


def log_call(call: str, payload: str, guard: bool = True) -> str:
    code = f"{call}({payload})"
    return f"if wandb.run is not None:  {MARK}\n    {code}" if guard else f"{code}  {MARK}"


def step_scope(site: Site):
    """What one W&B step stands for at `site`: its innermost loop within its function, else the function call."""
    for node in reversed(site.ancestors):
        if node is site.func:
            break
        if isinstance(node, (cst.For, cst.While)):
            return node
    return site.func if site.func is not None else site.stmt


def step_groups(losses) -> list[tuple[Site, dict, bool]]:
    """One W&B step per training iteration: the losses computed in one loop body go into one log call after the
    last of them (same block), or every call but the last defers its commit (`commit=False`).
    [(site to log after, {key: value}, commit)]."""
    groups: dict = {}
    for site, key, value in losses:
        groups.setdefault(id(step_scope(site)), []).append((site, key, value))
    out = []
    for items in groups.values():
        unique, seen = [], set()
        for site, key, value in items:
            if id(site.stmt) not in seen:
                seen.add(id(site.stmt))
                unique.append((site, key, value))
        if len({id(site.block) for site, _, _ in unique}) == 1:
            block = unique[0][0].block
            order = {id(st): i for i, st in enumerate(block.body)}
            unique.sort(key=lambda x: order[id(x[0].stmt)])
            payload = {k: v for _, k, v in unique}
            if len(unique) > 1:
                payload.update(_combined_losses(block, order[id(unique[-1][0].stmt)], unique))
            out.append((unique[-1][0], payload, True))
        else:
            out.extend((site, {key: value}, i == len(unique) - 1) for i, (site, key, value) in enumerate(unique))
    return out


def _combined_losses(block, upto: int, unique) -> dict:
    """`err_d = err_d_real + err_d_fake` between the losses of one iteration: a sum of scalar tensors is one too,
    and it is the number the script reports (a GAN's discriminator loss)."""
    losses = {v[: -len(".item()")] for _, _, v in unique if v.endswith(".item()")}
    out = {}
    for st in block.body[:upto]:
        if not (isinstance(st, cst.SimpleStatementLine) and isinstance(st.body[0], cst.Assign)):
            continue
        target, value = st.body[0].targets[0].target, st.body[0].value
        if isinstance(target, cst.Name) and isinstance(value, cst.BinaryOperation) and \
                isinstance(value.operator, (cst.Add, cst.Subtract)):
            names = {n.value for n in m.findall(value, m.Name())}
            if names and names <= losses:
                out[_key(target.value)] = f"{target.value}.item()"
    return out


def log_steps(plan: Plan, losses, call: str = "wandb.log", guard: bool = True, visible=None,
              defer: str = ", commit=False") -> None:
    """The loss after each place it becomes available, and eval metrics where they are reported or computed, with
    one W&B step per iteration (or per call of a loop-less training step): a metric reported after the loss in the
    same block joins the loss's step (the earlier call gets `commit=False`); one reported elsewhere in that
    iteration (e.g. every N steps) is left out with a note, since it would add W&B steps of its own."""
    a = plan.analysis
    logs = []  # [site, payload, commit, kind]
    by_scope = {}
    for site, payload, commit in step_groups(losses):
        logs.append([site, payload, commit, f"{call}(loss)"])
        if commit:
            by_scope[id(step_scope(site))] = logs[-1]
    exclude = {name for _, _, v in losses for name in re.findall(r"[A-Za-z_]\w*", v)} | {"loss"}
    done = {id(entry[0].stmt) for entry in logs}
    for site, metrics in metric_sites(a, exclude):
        if id(site.stmt) in done or (visible is not None and not visible(site)):
            continue
        done.add(id(site.stmt))
        last = by_scope.get(id(step_scope(site)))
        if last is not None:
            if site.block is not last[0].block or _index(site.block, site.stmt) < _index(site.block, last[0].stmt):
                plan.notes.append(f"line {a.line_of(site.stmt)}: {', '.join(metrics.values())} not logged: reported "
                                  "apart from the step already logged there, another log call would add W&B steps")
                continue
            last[2] = False  # the earlier log waits for the metrics of the same iteration: one step
        logs.append([site, metrics, True, f"{call}(metrics)"])
        by_scope[id(step_scope(site))] = logs[-1]
    for site, payload, commit, kind in logs:
        body = "{" + ", ".join(f'"{k}": {v}' for k, v in payload.items()) + "}" + ("" if commit else defer)
        plan.insert(site, "after", log_call(call, body, guard), kind)


def _index(block, stmt) -> int:
    return next(i for i, st in enumerate(block.body) if st is stmt)
