"""What one Python file is, read statically with `ast` (never imported or run).

One pass collects imports (with aliases), calls, decorators and string constants; small functions then
read the config style with its flags and defaults, the framework, distributed-launch hints and tracking.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

_HF_TRAINERS = {"Trainer", "Seq2SeqTrainer", "SFTTrainer", "DPOTrainer", "RewardTrainer", "PPOTrainer", "GRPOTrainer"}


_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}  # node type -> the fields that can hold child nodes


class _Facts:
    def __init__(self):
        self.aliases: dict[str, str] = {}  # local name -> dotted origin
        self.modules: set[str] = set()
        self.calls: list[tuple[str, ast.Call]] = []
        self.attr_calls: set[str] = set()  # method names called on anything: backward, step, fit ...
        self.decorated: list[tuple[ast.FunctionDef, list[tuple[str, ast.expr]]]] = []
        self.classes: dict[str, ast.ClassDef] = {}
        self.functions: dict[str, ast.FunctionDef] = {}
        self.strings: set[str] = set()
        self.main_guard = False
        self._by_last: dict[str, list[tuple[str, ast.Call]]] = {}  # last name segment -> calls, for called()

    def visit_Import(self, node):
        for a in node.names:
            self.modules.add(a.name)
            self.aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]

    def visit_ImportFrom(self, node):
        mod = node.module or ""
        if mod:
            self.modules.add(mod)
        for a in node.names:
            self.aliases[a.asname or a.name] = f"{mod}.{a.name}" if mod else a.name
            if mod:
                self.modules.add(f"{mod}.{a.name}")

    def visit_Constant(self, node):
        if isinstance(node.value, str) and len(node.value) < 80:
            self.strings.add(node.value)

    def collect(self, tree: ast.AST) -> None:
        """One flat walk over the tree with a type dispatch: NodeVisitor's recursive generic_visit costs
        more than the parse itself, and the facts need no scope."""
        handlers = {ast.Import: self.visit_Import, ast.ImportFrom: self.visit_ImportFrom, ast.Call: self._call,
                    ast.FunctionDef: self._function, ast.AsyncFunctionDef: self._function,
                    ast.ClassDef: self._class, ast.If: self._if, ast.Constant: self.visit_Constant}
        get = handlers.get
        self._call_nodes, self._function_nodes = [], []
        AST = ast.AST
        stack = [tree]
        pop, push, extend = stack.pop, stack.append, stack.extend
        while stack:  # ast.walk, without its generators or Load/Store contexts: the walk is most of the cost
            node = pop()
            kind = type(node)
            handler = get(kind)
            if handler is not None:
                handler(node)
            fields = _CHILD_FIELDS.get(kind)
            if fields is None:
                fields = _CHILD_FIELDS[kind] = tuple(f for f in kind._fields if f != "ctx")
            for field in fields:
                value = getattr(node, field, None)
                if type(value) is list:
                    extend(v for v in value if isinstance(v, AST))
                elif isinstance(value, AST):
                    push(value)
        # names are qualified once every import alias is known, wherever the import stands
        for node in reversed(self._call_nodes):  # source order, as the stack met them last-first
            name = self.qualify(node.func)
            if name:
                self.calls.append((name, node))
                self._by_last.setdefault(name.rsplit(".", 1)[-1], []).append((name, node))
            if isinstance(node.func, ast.Attribute):
                self.attr_calls.add(node.func.attr)
        for node in self._function_nodes:
            decos = [(self.qualify(d.func if isinstance(d, ast.Call) else d) or "", d) for d in node.decorator_list]
            if decos:
                self.decorated.append((node, decos))

    def _call(self, node):
        self._call_nodes.append(node)

    def _function(self, node):
        self.functions.setdefault(node.name, node)
        if node.decorator_list:
            self._function_nodes.append(node)

    def _class(self, node):
        self.classes.setdefault(node.name, node)

    def _if(self, node):
        t = node.test
        if (isinstance(t, ast.Compare) and isinstance(t.left, ast.Name) and t.left.id == "__name__"
                and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in t.comparators)):
            self.main_guard = True

    def qualify(self, node) -> str | None:
        """`pl.Trainer` -> `pytorch_lightning.Trainer` through the import aliases."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        parts.append(self.aliases.get(node.id, node.id))
        return ".".join(reversed(parts))

    def uses(self, *prefixes: str) -> bool:
        return any(m == p or m.startswith(p + ".") for m in self.modules for p in prefixes)

    def called(self, *names: str) -> list[ast.Call]:
        """Calls whose qualified name is one of `names` or ends with `.name`, in source order."""
        found = [(n, c) for x in names for n, c in self._by_last.get(x.rsplit(".", 1)[-1], ())
                 if n == x or n.endswith("." + x)]
        found.sort(key=lambda nc: (nc[1].lineno, nc[1].col_offset))
        return [c for _, c in found]


def analyze(path: Path, source: str | None = None) -> dict[str, Any]:
    """{config: {style, styles, flags, ...}, framework, frameworks, distributed, tracking, main_guard}."""
    source = path.read_text(encoding="utf-8", errors="replace") if source is None else source
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        return {"error": f"{path.name}:{exc.lineno}: syntax error: {exc.msg}", "config": {"style": None, "styles": [],
                "flags": []}, "framework": None, "frameworks": [], "distributed": [], "tracking": [], "main_guard": False}
    f = _Facts()
    f.collect(tree)
    config = config_style(f, tree, path)
    frameworks = framework(f)
    out = {"config": config, "framework": frameworks[0] if frameworks else None, "frameworks": frameworks,
           "distributed": distributed(f), "tracking": tracking(f), "main_guard": f.main_guard}
    if _assignments_only(tree):
        out["config_only"] = True
    out["toplevel_code"] = any(not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import,
                                                  ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.Expr, ast.If))
                               or isinstance(s, ast.Expr) and isinstance(s.value, ast.Call) for s in tree.body)
    execs = exec_files(f)
    if execs:
        out["execs"] = execs
    return out


_ANALYSED: dict[tuple[str, int, int, int, int], dict[str, Any]] = {}


def analyze_file(path: Path) -> dict[str, Any]:
    """analyze() of a file, once per version of it: a plan runs one script for every unit and a sweep for every
    trial, and each launch reads its seed flag and its output flags. A changed file (mtime, ctime, size or inode)
    is parsed again. The result is shared: read it, never change it. Raises OSError when the file cannot be read."""
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
    if key not in _ANALYSED:
        if len(_ANALYSED) >= 256:  # a long-lived process that saw many scripts keeps only the recent ones
            _ANALYSED.pop(next(iter(_ANALYSED)))
        _ANALYSED[key] = analyze(path)
    return _ANALYSED[key]


def _assignments_only(tree: ast.Module) -> bool:
    """A module of plain assignments (and imports, a docstring): config values, not a program."""
    body = [s for s in tree.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    kinds = (ast.Assign, ast.AnnAssign, ast.Import, ast.ImportFrom)
    return bool(body) and all(isinstance(s, kinds) for s in body) and any(
        isinstance(s, (ast.Assign, ast.AnnAssign)) for s in body)


def config_only(path: Path) -> bool:
    try:
        return _assignments_only(ast.parse(path.read_text(encoding="utf-8", errors="replace")))
    except (SyntaxError, ValueError, OSError):
        return False


def exec_files(f: _Facts) -> list[str]:
    """`exec(open('configurator.py').read())`: the Python files a script execs into itself (config overrides)."""
    out = []
    for call in f.called("exec"):
        for node in ast.walk(call):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.endswith(".py"):
                out.append(node.value)
    return sorted(set(out))


def config_style(f: _Facts, tree: ast.Module, path: Path) -> dict[str, Any]:
    styles: list[str] = []
    flags: list[dict[str, Any]] = []
    extra: dict[str, Any] = {}
    hydra = [(fn, d) for fn, decos in f.decorated for n, d in decos if n in ("hydra.main",)]
    if hydra:
        styles.append("hydra")
        call = hydra[0][1]
        kw = _kwargs(call) if isinstance(call, ast.Call) else {}
        extra["hydra"] = {"config_path": kw.get("config_path"), "config_name": kw.get("config_name")}
        flags += _hydra_flags(path, kw)
    if f.called("LightningCLI"):
        styles.append("lightning_cli")
        flags += [{"name": "fit", "kind": "subcommand"}, {"name": "--config", "default": None,
                                                             "help": "YAML config (LightningCLI)"}]
    hf = f.called("HfArgumentParser")
    if hf:
        styles.append("hf_argparser")
        for cls in _names_in(hf[0].args[0]) if hf[0].args else []:
            if cls in f.classes:
                flags += _dataclass_flags(f.classes[cls], "--{}")
            elif cls.endswith("TrainingArguments"):
                flags.append({"name": "--output_dir", "default": None, "required": True,
                              "help": f"and every other {cls} flag (--learning_rate, --num_train_epochs, ...)"})
    tyro = f.called("tyro.cli")
    if tyro:
        styles.append("tyro")
        target = tyro[0].args[0] if tyro[0].args else None
        if isinstance(target, ast.Name) and target.id in f.classes:
            flags += _dataclass_flags(f.classes[target.id], "--{}", hyphens=True)
        elif isinstance(target, ast.Name) and target.id in f.functions:
            flags += _function_flags(f.functions[target.id])
    if f.uses("typer"):
        styles.append("typer")
        runs = {a.id for c in f.called("typer.run") for a in c.args if isinstance(a, ast.Name)}
        for fn, decos in f.decorated:
            if fn.name in runs or any(n.endswith(".command") or n.endswith(".callback") for n, _ in decos):
                flags += _function_flags(fn)
        for name in runs:
            if name in f.functions and not any(fn.name == name for fn, _ in f.decorated):
                flags += _function_flags(f.functions[name])
    clicks = [(fn, decos) for fn, decos in f.decorated if any(n.startswith("click.") for n, _ in decos)]
    if clicks and not f.uses("typer"):
        styles.append("click")
        for _, decos in clicks:
            for n, d in decos:
                if n in ("click.option", "click.argument") and isinstance(d, ast.Call):
                    flags.append(_arg_flag(d, positional_kind="argument" if n == "click.argument" else None))
    parsers = [c for n, c in f.calls if n.endswith("ArgumentParser") and not n.endswith("HfArgumentParser")]
    if parsers:
        styles.append("argparse")
        flags += [_arg_flag(c) for n, c in f.calls if n.endswith(".add_argument")]
    training_args = f.called("TrainingArguments", "Seq2SeqTrainingArguments", "SFTConfig")
    if training_args and "hf_argparser" not in styles:
        styles.append("training_arguments")
        extra["training_arguments"] = {k: v for k, v in _kwargs(training_args[0]).items()}
    if not styles and exec_files(f):
        styles.append("configurator")
        flags += _configurator_flags(tree, min(c.lineno for c in f.called("exec")))
    if not styles:
        consts = _constants(tree)
        if consts:
            styles.append("constants")
            flags += consts
    return {"style": styles[0] if styles else None, "styles": styles, "flags": flags, **extra}


def framework(f: _Facts) -> list[str]:
    found = []
    if f.uses("lightning", "pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
        found.append("lightning")
    if any(n.split(".")[0] in ("transformers", "trl") and n.split(".")[-1] in _HF_TRAINERS for n, _ in f.calls):
        found.append("hf_trainer")
    if f.uses("accelerate"):
        found.append("accelerate")
    if f.uses("keras", "tensorflow.keras", "tf_keras") or (f.uses("tensorflow") and "fit" in f.attr_calls):
        found.append("keras")
    if f.uses("jax", "flax", "optax", "equinox"):
        found.append("jax")
    if f.uses("torch") and ({"backward", "zero_grad"} & f.attr_calls) and not {"lightning", "hf_trainer"} & set(found):
        found.append("pytorch")
    return found


def distributed(f: _Facts) -> list[str]:
    hints = []
    if any(n.endswith(".spawn") and n.startswith(("torch.multiprocessing", "multiprocessing")) for n, _ in f.calls):
        hints.append("mp.spawn")
    if f.called("init_process_group") or f.uses("torch.distributed") or f.called("DistributedDataParallel"):
        hints.append("torch.distributed")
    if {"LOCAL_RANK", "WORLD_SIZE"} & f.strings:
        hints.append("torchrun")
    if f.called("Accelerator"):
        hints.append("accelerate launch")
    if f.uses("deepspeed"):
        hints.append("deepspeed")
    return hints


def tracking(f: _Facts) -> list[str]:
    found = []
    if f.uses("wandb") or f.called("WandbLogger") or "wandb" in f.strings:
        found.append("wandb")
    if f.uses("torch.utils.tensorboard", "tensorboardX", "tensorboard") or f.called("TensorBoardLogger", "SummaryWriter") \
            or "tensorboard" in f.strings:
        found.append("tensorboard")
    if f.uses("mlflow") or f.called("MLFlowLogger") or "mlflow" in f.strings:
        found.append("mlflow")
    return found


# --- flag readers -----------------------------------------------------------------------------------------

def _value(node: ast.expr | None) -> Any:
    if node is None:
        return None
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return ast.unparse(node)


def _kwargs(call: ast.Call) -> dict[str, Any]:
    return {k.arg: _value(k.value) for k in call.keywords if k.arg}


def _arg_flag(call: ast.Call, positional_kind: str | None = None) -> dict[str, Any]:
    names = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    kw = _kwargs(call)
    long = next((n for n in names if n.startswith("--")), None) or next((n for n in names if n.startswith("-")), None)
    flag: dict[str, Any] = {"name": long or (names[0] if names else "?")}
    if not long:
        flag["kind"] = positional_kind or "positional"
    flag["default"] = kw.get("default", False if kw.get("action") == "store_true" or kw.get("is_flag") else None)
    for key in ("type", "required", "help", "choices"):
        if key in kw:
            flag[key] = kw[key]
    if not long and positional_kind != "argument" and kw.get("nargs") not in ("?", "*"):
        flag["required"] = True
    if positional_kind == "argument":
        flag["required"] = kw.get("required", True)
    return flag


def _dataclass_flags(cls: ast.ClassDef, pattern: str, hyphens: bool = False) -> list[dict[str, Any]]:
    flags = []
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            name = stmt.target.id.replace("_", "-") if hyphens else stmt.target.id
            default, required = _value(stmt.value), stmt.value is None
            if isinstance(stmt.value, ast.Call) and (getattr(stmt.value.func, "id", "") == "field"
                                                     or getattr(stmt.value.func, "attr", "") == "field"):
                kw = {k.arg: k.value for k in stmt.value.keywords}
                required = "default" not in kw and "default_factory" not in kw
                default = _value(kw["default"]) if "default" in kw else \
                    f"{ast.unparse(kw['default_factory'])}()" if "default_factory" in kw else None
            flags.append({"name": pattern.format(name), "default": default, "type": ast.unparse(stmt.annotation),
                          "required": required})
    return flags


def _function_flags(fn: ast.FunctionDef) -> list[dict[str, Any]]:
    args = fn.args.args + fn.args.kwonlyargs
    defaults = [None] * (len(fn.args.args) - len(fn.args.defaults)) + list(fn.args.defaults) + list(fn.args.kw_defaults)
    flags = []
    for a, d in zip(args, defaults):
        if a.arg in ("self", "ctx"):
            continue
        if isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr in ("Option", "Argument"):
            d = d.args[0] if d.args else next((k.value for k in d.keywords if k.arg == "default"), None)
        flags.append({"name": "--" + a.arg.replace("_", "-"), "default": _value(d),
                      "type": ast.unparse(a.annotation) if a.annotation else None, "required": d is None})
    return flags


def _hydra_flags(path: Path, kw: dict[str, Any]) -> list[dict[str, Any]]:
    """Hydra takes key=value overrides: the top-level keys of its primary config, when the file is there."""
    cpath, cname = kw.get("config_path"), kw.get("config_name")
    if not isinstance(cname, str):
        return []
    folder = path.parent / cpath if isinstance(cpath, str) else path.parent
    cfg = next((p for p in (folder / f"{cname}.yaml", folder / cname) if p.is_file()), None)
    if cfg is None:
        return []
    from expkit.yamlfile import YamlError, load_yaml

    try:
        data = load_yaml(cfg)
    except YamlError:
        return []
    if not isinstance(data, dict):
        return []
    return [{"name": k, "default": v if not isinstance(v, (dict, list)) else None, "kind": "override"}
            for k, v in data.items() if k != "defaults"]


def _constants(tree: ast.Module) -> list[dict[str, Any]]:
    out = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            if name.isupper() and not name.startswith("_") and isinstance(stmt.value, (ast.Constant, ast.UnaryOp)):
                out.append({"name": name, "default": _value(stmt.value), "kind": "constant"})
    return out


def _configurator_flags(tree: ast.Module, exec_line: int) -> list[dict[str, Any]]:
    """nanoGPT's configurator: every plain global set before `exec(open('configurator.py').read())` can be
    overridden as `--name=value` (and by a config file given as a positional argument)."""
    out = []
    for stmt in tree.body:
        if stmt.lineno >= exec_line:
            break
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            name = stmt.targets[0].id
            if not name.startswith("_") and isinstance(stmt.value, (ast.Constant, ast.UnaryOp)):
                out.append({"name": f"--{name}", "default": _value(stmt.value), "kind": "configurator",
                            "help": f"--{name}=VALUE"})
    return out


def _names_in(node: ast.expr) -> list[str]:
    if isinstance(node, (ast.Tuple, ast.List)):
        return [e.id if isinstance(e, ast.Name) else getattr(e, "attr", "") for e in node.elts]
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    return []
