"""Where a script's configuration becomes known, and the expression that hands it to `wandb.init(config=...)`.

Recognised: argparse (`vars(args)`), Hydra/OmegaConf (`OmegaConf.to_container(cfg, resolve=True)`), a
dataclass instance (`dataclasses.asdict(cfg)`), a dict, click/typer command parameters, and, for module-level
scripts, the simple constants assigned at the top of the file.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from expkit.inject.analyze import Analysis, Site, dotted

CONFIG_NAMES = {"config", "cfg", "conf", "hparams", "hyperparams", "hp", "params", "args", "opt", "opts", "flags",
                "train_config", "training_config", "CONFIG", "CFG", "HPARAMS"}


@dataclass
class Config:
    expr: str  # code for wandb.init(config=...)
    source: str  # what it is, for the report
    stmt_site: Site | None = None  # the statement that makes it known (None: a parameter)
    imports: tuple = ()


def _param_names(func: cst.FunctionDef) -> list[str]:
    p = func.params
    return [x.name.value for x in (*p.posonly_params, *p.params, *p.kwonly_params)]


def _decorator_names(a: Analysis, func: cst.FunctionDef) -> list[str]:
    out = []
    for d in func.decorators:
        expr = d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator
        name = dotted(expr) or ""
        out.append(a.qualify(name) or name)
    return out


def is_cli_command(a: Analysis, func: cst.FunctionDef) -> bool:
    """click/typer command: decorated with `*.command`, or handed to `typer.run` / `fire.Fire`."""
    if any(n.endswith(".command") or n in ("click.command", "command") for n in _decorator_names(a, func)):
        return True
    for c in a.calls_to("typer.run", "fire.Fire"):
        if c.node.args and dotted(c.node.args[0].value) == func.name.value:
            return True
    return False


def param_config(a: Analysis, func: cst.FunctionDef | None) -> Config | None:
    """A configuration that arrives as a parameter of `func`."""
    if func is None:
        return None
    names = _param_names(func)
    if any(n in ("hydra.main", "hydra.main") for n in _decorator_names(a, func)) and names:
        omega = "OmegaConf" if "OmegaConf" in a.imports else None
        imports = () if omega else ("from omegaconf import OmegaConf",)
        return Config(f"OmegaConf.to_container({names[0]}, resolve=True)", f"Hydra config `{names[0]}`",
                      imports=imports)
    if is_cli_command(a, func):
        names = [n for n in names if n not in ("self", "ctx")]
        return Config("{" + ", ".join(f'"{n}": {n}' for n in names) + "}", "command-line parameters")
    annotations = {p.name.value: dotted(p.annotation.annotation) or "" for p in
                   (*func.params.posonly_params, *func.params.params, *func.params.kwonly_params) if p.annotation}
    for n in names:
        if n in CONFIG_NAMES:
            ann = annotations.get(n, "")
            kind = _kind_of_name(a, n) or _kind_of_annotation(a, ann) or (
                "object" if _reads_attributes(a, func, n) else None)
            if kind:
                return _config_for(a, n, kind)
    return None


def _kind_of_annotation(a: Analysis, ann: str) -> str | None:
    last = ann.rsplit(".", 1)[-1]
    if last == "ConfigDict" or last == "FrozenConfigDict":
        return "configdict"
    if last == "Namespace":
        return "argparse"
    if last in a.dataclasses:
        return "dataclass"
    if last in ("DictConfig", "ListConfig"):
        return "omegaconf"
    if last in ("dict", "Dict"):
        return "dict"
    return None


def _reads_attributes(a: Analysis, func: cst.FunctionDef, name: str) -> bool:
    """`args.epochs` is read inside `func`: the parameter is an object with attributes, so vars() gives them."""
    code = cst.Module(body=[]).code_for_node(func.body)
    return f"{name}." in code and f"{name}[" not in code


def self_config(a: Analysis, func: cst.FunctionDef) -> Config | None:
    """A method of a class whose __init__ keeps its configuration as `self.config = config` (a dataclass or an
    argparse namespace), or builds it there (`self.cfg = TrainConfig(...)`)."""
    site = a.func_sites.get(func)
    owner = site.path[-2][1] if site is not None and len(site.path) >= 2 else None
    if not isinstance(owner, cst.ClassDef) or not _param_names(func)[:1] == ["self"]:
        return None
    init = next((st for st in owner.body.body if isinstance(st, cst.FunctionDef) and st.name.value == "__init__"),
                None)
    if init is None:
        return None
    annotations = {p.name.value: dotted(p.annotation.annotation) for p in init.params.params if p.annotation}
    for s in a.assigns:
        if s.func is not init or not isinstance(s.node, cst.Assign):
            continue
        target, value = s.node.targets[0].target, s.node.value
        if not (isinstance(target, cst.Attribute) and dotted(target.value) == "self"
                and target.attr.value in CONFIG_NAMES):
            continue
        expr = f"self.{target.attr.value}"
        kind = None
        if isinstance(value, cst.Name):
            ann = annotations.get(value.value)
            kind = "dataclass" if ann in a.dataclasses else "argparse" if ann and ann.endswith("Namespace") else \
                _kind_of_name(a, value.value)
        elif isinstance(value, cst.Call) and dotted(value.func) in a.dataclasses:
            kind = "dataclass"
        if kind:
            cfg = _config_for(a, expr, kind)
            return Config(cfg.expr, f"{cfg.source.split(' ')[0]} `{expr}`", None, cfg.imports)
    return None


SCALAR_TYPES = {"int", "float", "str", "bool"}


def parameters_config(a: Analysis, func: cst.FunctionDef, caller: Site | None) -> Config | None:
    """Hyperparameters handed over one by one: `main(save_every: int, total_epochs: int, ...)` called as
    `main(args.save_every, ...)` or spawned as `mp.spawn(main, args=(world_size, a.total_epochs, ...))`.
    A parameter counts when annotated int/float/str/bool, defaulting to a literal, or fed `cfg.x`/a literal."""
    params = [*func.params.posonly_params, *func.params.params, *func.params.kwonly_params]
    fed = _fed_values(caller.node, func) if caller is not None and isinstance(caller.node, cst.Call) else {}
    names = []
    for p in params:
        name = p.name.value
        if name in ("self", "cls", "rank", "local_rank", "gpu", "gpu_id", "device", "epoch", "step"):
            continue
        ann = dotted(p.annotation.annotation) if p.annotation else None
        value = fed.get(name)
        if ann in SCALAR_TYPES or (p.default is not None and _is_literal(p.default)) or (
                value is not None and (_is_literal(value) or isinstance(value, cst.Attribute))):
            names.append(name)
    if len(names) < 2:
        return None
    return Config("{" + ", ".join(f'"{n}": {n}' for n in names) + "}", f"parameters of `{func.name.value}`")


def _fed_values(call: cst.Call, func: cst.FunctionDef) -> dict:
    """{parameter: argument expression} at a call of `func`, or at `mp.spawn(func, args=(...))` (rank first)."""
    params = [p.name.value for p in (*func.params.posonly_params, *func.params.params)]
    args = list(call.args)
    spawn_args = next((x.value for x in args if x.keyword and x.keyword.value == "args"), None)
    if spawn_args is not None and args and dotted(args[0].value) == func.name.value:
        values = [e.value for e in spawn_args.elements] if isinstance(spawn_args, cst.Tuple) else []
        return dict(zip(params[1:], values))
    out = dict(zip(params, [x.value for x in args if not x.keyword and not x.star]))
    out.update({x.keyword.value: x.value for x in args if x.keyword})
    return out


def _kind_of_name(a: Analysis, name: str) -> str | None:
    """How a name of this spelling is made anywhere in the script (a parameter often mirrors its caller)."""
    for s in a.assigns:
        kind = _assign_kind(a, s.node, name)
        if kind:
            return kind
    return None


def _returns_parsed_args(a: Analysis, fname: str, seen: frozenset = frozenset()) -> bool:
    """`args = parse()` where the script's own `def parse(): ... return parser.parse_args()`."""
    func = a.functions.get(fname)
    if func is None or fname in seen:
        return False
    parsed = ("parse_args", "parse_known_args")
    last = func.body.body[-1]
    if not (isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[0], cst.Return)):
        return False
    value = last.body[0].value
    if isinstance(value, cst.Call):
        return (dotted(value.func) or "").rsplit(".", 1)[-1] in parsed
    if isinstance(value, cst.Name):  # args = parser.parse_args(); return args
        return any(s.func is func and _assign_kind(a, s.node, value.value, seen | {fname}) == "argparse"
                   for s in a.assigns)
    return False


def _targets(node) -> list[cst.BaseExpression]:
    if isinstance(node, cst.Assign):
        return [t.target for t in node.targets]
    return [node.target]


def _assign_kind(a: Analysis, node, name: str, seen: frozenset = frozenset()) -> str | None:
    value = node.value
    if value is None:
        return None
    for t in _targets(node):
        first = t
        if isinstance(t, (cst.Tuple, cst.List)) and t.elements:
            first = t.elements[0].value
        if not (isinstance(first, cst.Name) and first.value == name):
            continue
        if isinstance(value, cst.Call):
            fname = dotted(value.func) or ""
            q = a.qualify(fname) or fname
            last = value.func.attr.value if isinstance(value.func, cst.Attribute) else fname.rsplit(".", 1)[-1]
            if last in ("parse_args", "parse_known_args") or _returns_parsed_args(a, fname, seen):
                return "argparse"
            if q.startswith("omegaconf.") or last in ("compose",) or q.startswith("hydra."):
                return "omegaconf"
            if fname in a.dataclasses:
                return "dataclass"
            if fname == "dict" and name in CONFIG_NAMES:
                return "dict"
            if last in ("load", "safe_load") and q.startswith(("yaml", "json")):
                return "dict"
        if isinstance(value, (cst.Dict, cst.DictComp)) and name in CONFIG_NAMES:
            return "dict"
    return None


def _config_for(a: Analysis, name: str, kind: str, site: Site | None = None) -> Config:
    if kind == "argparse":
        return Config(f"vars({name})", f"argparse `{name}`", site)
    if kind == "object":
        return Config(f"vars({name})", f"attributes of `{name}`", site)
    if kind == "configdict":
        return Config(f"{name}.to_dict()", f"ConfigDict `{name}`", site)
    if kind == "omegaconf":
        imports = () if "OmegaConf" in a.imports else ("from omegaconf import OmegaConf",)
        return Config(f"OmegaConf.to_container({name}, resolve=True)", f"OmegaConf `{name}`", site, imports)
    if kind == "dataclass":
        imports = () if "dataclasses" in a.imports else ("import dataclasses",)
        return Config(f"dataclasses.asdict({name})", f"dataclass `{name}`", site, imports)
    return Config(name, f"dict `{name}`", site)


def statement_config(a: Analysis, block, anchor, scope, upto_end: bool = False) -> Config | None:
    """The last config assignment of `scope` that runs before `anchor` (a statement of `block`).

    The assignment may sit in `block` itself or inside a `with`/`if`/`try` before the anchor (e.g.
    `with open(path) as fh: cfg = json.load(fh)`), but not in a loop or a nested def.
    """
    found = None
    limit = len(block.body) if upto_end else _index(block, anchor)
    for s in a.assigns:
        if s.func is not scope:
            continue
        below = None
        for i, (blk, _) in enumerate(s.path):
            if blk is block:
                below = s.path[i:]
                break
        if below is None or _index(block, below[0][1]) >= limit:
            continue
        if any(isinstance(st, (cst.For, cst.While, cst.FunctionDef, cst.ClassDef)) for _, st in below):
            continue
        for t in _targets(s.node):
            first = t.elements[0].value if isinstance(t, (cst.Tuple, cst.List)) and t.elements else t
            if isinstance(first, cst.Name):
                kind = _assign_kind(a, s.node, first.value)
                if kind:
                    found = _config_for(a, first.value, kind, s)
    return found


def _index(block, stmt) -> int:
    for i, s in enumerate(block.body):
        if s is stmt:
            return i
    return -1


def module_constants(a: Analysis, anchor) -> Config | None:
    """Simple literal assignments at the top level before `anchor`: the config of a script with no main()."""
    names = []
    for s in a.assigns:
        if s.block is not a.module or s.func is not None or len(s.path) != 1:
            continue
        if _index(a.module, s.stmt) >= _index(a.module, anchor):
            continue
        node = s.node
        if isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
            if _is_literal(node.value):
                name = node.targets[0].target.value
                if not name.startswith("_") and name not in names:
                    names.append(name)
    if not names:
        return None
    return Config("{" + ", ".join(f'"{n}": {n}' for n in names) + "}", "module-level constants")


def _is_literal(v) -> bool:
    if isinstance(v, (cst.Integer, cst.Float, cst.SimpleString)):
        return True
    if isinstance(v, cst.Name) and v.value in ("True", "False", "None"):
        return True
    if isinstance(v, cst.UnaryOperation) and isinstance(v.expression, (cst.Integer, cst.Float)):
        return True
    return False
