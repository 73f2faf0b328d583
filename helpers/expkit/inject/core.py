"""inject: detect the framework, run its codemod, verify the result parses, back up, write.

The rule table is checked in order; the first that applies wins:

1. wandb        the script already uses W&B: change nothing, report where
2. hf-trainer   transformers TrainingArguments / HfArgumentParser
3. lightning    Lightning Trainer / LightningCLI
4. keras        Keras / tf.keras `fit`
5. accelerate   HF Accelerate's Accelerator
6. tensorboard  a SummaryWriter, with --sync-tensorboard
7. loop         any custom loop (PyTorch, JAX, ...)
"""

from __future__ import annotations

import ast
import codecs
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import libcst as cst

from expkit.errors import ExpkitError, Failure
from expkit.fsutil import atomic_write_bytes
from expkit.inject import backup
from expkit.inject.analyze import Analysis, analyze
from expkit.inject.codemods import accelerate, hf, keras, lightning, loop, tensorboard
from expkit.inject.edits import MARK, Plan, apply
from expkit.inject.run import call_chain, find_driver, start_run

RULES = [("hf-trainer", hf), ("lightning", lightning), ("keras", keras), ("accelerate", accelerate)]


@dataclass
class Options:
    project: str | None = None
    entity: str | None = None
    sync_tensorboard: bool | None = None  # None: not decided (refuse and ask), True/False: the user's choice
    script_stem: str | None = None  # names the Accelerate project when neither --project nor WANDB_PROJECT is set


@dataclass
class Result:
    framework: str
    changed: bool
    source: str
    new_source: str
    edits: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    existing: list = field(default_factory=list)  # lines that already use wandb
    diff: str = ""
    backup: str | None = None
    script: str | None = None
    also: list = field(default_factory=list)  # Results for sibling modules changed with this script

    @property
    def full_diff(self) -> str:
        return self.diff + "".join(r.diff for r in self.also)

    def to_json(self) -> dict:
        out = {"framework": self.framework, "changed": self.changed, "edits": self.edits,
               "warnings": self.warnings, "notes": self.notes, "existing_wandb": self.existing,
               "backup": self.backup, "diff": self.full_diff}
        if self.also:
            out["also_changed"] = [{"script": r.script, "edits": r.edits, "backup": r.backup} for r in self.also]
        return out


class CannotInject(Failure):
    """No safe place for the edits: nothing was written (exit 1)."""

    def __init__(self, message, hint, framework="", snippet=None, line=None):
        super().__init__(message, hint)
        self.framework, self.snippet, self.line = framework, snippet, line


def _decode(data: bytes, name: str) -> str:
    encoding = _encoding_of(data)
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise ExpkitError(f"{name} cannot be read as {encoding}: {exc}", "save the script as UTF-8") from None


def parse(source: str, name: str) -> cst.Module:
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        raise ExpkitError(f"{name} does not parse: line {exc.raw_line}: {exc.message}",
                          "fix the syntax error first; inject never touches a script that does not parse") from None


def framework_label(a: Analysis) -> str:
    if a.uses("jax", "flax"):
        return "jax"
    if a.uses("torch"):
        return "pytorch"
    return "custom loop"


def existing_wandb(a: Analysis) -> list[dict]:
    lines = {}
    for s in a.wandb_lines:
        node = s.stmt if s.path else s.node
        line = a.line_of(node)
        if line not in lines:
            text = cst.Module(body=[]).code_for_node(node).strip().splitlines()
            lines[line] = text[0] if text else ""
    return [{"line": k, "code": v} for k, v in sorted(lines.items())]


def inject_source(source: str, opts: Options, name: str = "train.py") -> Result:
    """Pure text -> text: the edited source and what was done. Raises CannotInject / ExpkitError."""
    if opts.script_stem is None:
        opts = replace(opts, script_stem=Path(name).stem)
    module = parse(source, name)
    a = analyze(module)
    if a.wandb_lines:
        expkit_made = MARK in source
        return Result("wandb", False, source, source, existing=existing_wandb(a),
                      notes=["already injected by expkit (lines marked `# expkit: wandb`)" if expkit_made else
                             "the script already uses W&B: nothing changed"])
    plan = Plan(a)
    also: list[Result] = []
    framework = None
    for label, rule in RULES:
        if rule.applies(a):
            framework = label
            try:
                rule.plan(plan, opts)
            except loop.Unplaceable as exc:
                raise CannotInject(f"{name}: {exc.message}; nothing changed", exc.snippet, label, None,
                                   exc.line) from None
            break
    if framework is None and tensorboard.applies(a) and opts.sync_tensorboard is not False:
        line = a.line_of(tensorboard.writers(a)[0].stmt)
        if opts.sync_tensorboard is None:
            raise CannotInject(
                f"{name} writes TensorBoard events (SummaryWriter, line {line}): choose how to add W&B",
                "re-run with --sync-tensorboard (one wandb.init(sync_tensorboard=True) mirrors every scalar: "
                "the minimal change) or --no-sync-tensorboard (add wandb.log calls as for any loop)",
                "tensorboard", "wandb.init(sync_tensorboard=True)", line)
        framework = "tensorboard"
        tensorboard.plan(plan, opts)
    if framework is None:
        framework = framework_label(a)
        try:
            loop.plan(plan, opts)
        except loop.Unplaceable as exc:
            sibling = _follow_sibling(a, name, plan, opts)
            if sibling is None:
                hint = f"add `{exc.snippet}`" + (f" near line {exc.line}" if exc.line else "")
                raise CannotInject(f"{name}: {exc.message}; nothing changed", hint, framework, exc.snippet,
                                   exc.line) from None
            path, sib_plan, sib_source = sibling
            also.append(_finish(sib_plan, sib_source, str(path), framework))
            plan.notes.append(f"the training loop is in {path.name}, imported by {Path(name).name}: "
                              f"the run starts here, the loss is logged there")
    if plan.empty:
        return Result(framework, False, source, source, warnings=plan.warnings, notes=plan.notes,
                      existing=plan.existing)
    result = _finish(plan, source, name, framework)
    result.also = also
    result.existing = plan.existing
    return result


def _finish(plan: Plan, source: str, name: str, framework: str) -> Result:
    new_source, edits = apply(plan)
    try:  # CPython's own parser is the judge, and ~10x faster than a second LibCST parse
        compile(new_source, name, "exec", ast.PyCF_ONLY_AST)
    except (SyntaxError, ValueError) as exc:  # a bug in a codemod: never write it
        raise Failure(f"internal error: the edited {name} would not parse ({exc}); nothing written",
                      "report this script to the expkit maintainers") from None
    return Result(framework, new_source != source, source, new_source, edits=edits, warnings=plan.warnings,
                  notes=plan.notes, diff=backup.unified_diff(source, new_source, name), script=name)


def _follow_sibling(a: Analysis, name: str, plan: Plan, opts: Options):
    """The loop lives in a module next to the script that the script imports: start the run in the script
    (where the configuration is), log the loss in the module. Returns (path, module plan, module source)."""
    here = Path(name).resolve().parent
    for local, qual in a.imports.items():
        mod = qual.lstrip(".").split(".")[0]
        path = here / f"{mod}.py"
        if not mod or not path.is_file() or path == Path(name).resolve():
            continue
        try:
            sib_source = _decode(path.read_bytes().removeprefix(codecs.BOM_UTF8), path.name)
            sa = analyze(cst.parse_module(sib_source))
        except (ExpkitError, cst.ParserSyntaxError, OSError):
            continue
        losses = loop.loss_sites(sa) if not sa.wandb_lines else []
        if not losses:
            continue
        exported = {scope.name.value for site, _, _ in losses for scope, _ in call_chain(sa, site) if scope}
        for c in a.calls:
            called = c.qualname or ""
            if called.lstrip(".").startswith(mod + ".") and called.rsplit(".", 1)[-1] in exported and c.path:
                start_run(plan, find_driver(a, c), opts)
                sib_plan = Plan(sa)
                loop.log_steps(sib_plan, losses)
                return path, sib_plan, sib_source
    return None


def inject_file(path: str | Path, opts: Options | None = None, dry_run: bool = False) -> Result:
    """Inject into a file: back it up first (see inject.backup), write only a result that parses."""
    path = Path(path)
    if not path.is_file():
        raise ExpkitError(f"no such script: {path}", "give the path of the training script (a .py file)")
    opts = opts or Options()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ExpkitError(f"cannot read {path}: {exc.strerror}", "check the file's permissions") from None
    source = _decode(data.removeprefix(codecs.BOM_UTF8), path.name)
    result = inject_source(source, opts, str(path))
    if result.changed and not dry_run:
        done: list[tuple[Path, Path, bytes]] = []  # (file, its backup, its old bytes): undone on a failed write
        for r in [result, *result.also]:  # every result parsed: back up and write each file
            # A symlinked script stays a link: the file it points at is edited, with its mode kept.
            target = backup.real_path(r.script if r is not result else path)
            made = None
            try:
                raw = data if r is result else target.read_bytes()
                bom = codecs.BOM_UTF8 if raw.startswith(codecs.BOM_UTF8) else b""
                new = bom + r.new_source.encode(_encoding_of(raw))
                made = backup.write_backup(target, raw, written=new)
                atomic_write_bytes(target, new, mode=target.stat().st_mode & 0o7777)
            except OSError as exc:
                _undo(done + ([(target, made, b"")] if made is not None else []), written=len(done))
                raise ExpkitError(f"cannot write {target}: {exc.strerror}",
                                  "the file or its folder is read-only or immutable (see `lsattr`, `chattr -i`): "
                                  "make it writable, then retry; nothing was changed") from None
            r.backup = str(made)
            done.append((target, made, raw))
    return result


def _undo(done: list[tuple[Path, Path, bytes]], written: int) -> None:
    """Put back the files already rewritten and remove every backup made by this call."""
    for i, (target, made, raw) in enumerate(done):
        try:
            if i < written:
                atomic_write_bytes(target, raw, mode=target.stat().st_mode & 0o7777)
            backup.written_path(made).unlink(missing_ok=True)
            made.unlink()
        except OSError:
            pass


def _encoding_of(data: bytes) -> str:
    """The PEP 263 coding declaration of the first two lines, else UTF-8."""
    mt = re.match(rb"^(?:[^\n]*\n)?[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", data)
    return mt.group(1).decode() if mt else "utf-8"
