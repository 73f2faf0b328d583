"""An edit plan (what to insert where) and the one transformer that applies it.

Codemods only *plan*: they name a statement to insert before/after, or a call to rewrite. Nothing the user wrote
is moved or re-indented: an edit a user must approve adds lines and changes only the calls it has to. Applying is
a single pruned pass that descends only into the nodes on the way to an edit, so every byte of the script outside
the edited statements comes out exactly as it went in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import libcst as cst

from expkit.inject.analyze import Analysis, Site, own_offset

MARK = "# expkit: wandb"  # every line expkit adds carries it: inject recognises its own work, people see it


@dataclass
class Plan:
    analysis: Analysis
    # Each edit keeps the index of its entry in `edits`, so its line can be found in the output.
    inserts: dict = field(default_factory=dict)  # id(block) -> [(stmt, "before"|"after", [new stmts], edit)]
    calls: dict = field(default_factory=dict)  # id(call) -> (fn(updated call) -> new call, edit)
    imports: list = field(default_factory=list)  # import statements as code, e.g. "import wandb"
    edits: list = field(default_factory=list)  # [{"where", "kind"}]; apply() adds "line"
    warnings: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    existing: list = field(default_factory=list)  # [{"line", "code"}]: W&B already configured there (e.g. "all")
    needed: set = field(default_factory=set)  # ids of nodes the transformer must descend into

    @property
    def empty(self) -> bool:
        return not (self.inserts or self.calls or self.imports)

    def _touch(self, site: Site) -> None:
        self.needed.update(id(n) for n in site.ancestors)
        self.needed.add(id(site.node))

    def snippet(self, code: str) -> list[cst.BaseStatement]:
        """Statements from code written with 4-space indents, re-indented and re-newlined like the module."""
        mod = self.analysis.module
        indent = mod.default_indent
        lines = []
        for line in code.strip("\n").split("\n"):
            stripped = line.lstrip(" ")
            lines.append(indent * ((len(line) - len(stripped)) // 4) + stripped)
        text = mod.default_newline.join(lines) + mod.default_newline
        return list(cst.parse_module(text, config=mod.config_for_parsing).body)

    def insert(self, site: Site, where: str, code: str, kind: str, block=None, stmt=None) -> None:
        """Insert `code` before/after the statement holding `site` (or `stmt` of `block`); "end" is after it and
        after every other insert there (the run finishes after the last thing logged)."""
        block = block if block is not None else site.block
        stmt = stmt if stmt is not None else site.stmt_in(block)
        self._touch(site)
        self.inserts.setdefault(id(block), []).append((stmt, where, self.snippet(code), len(self.edits)))
        self.edits.append({"where": where, "kind": kind})

    def at_end(self, site: Site, block, code: str, kind: str, anchor=None) -> bool:
        """Insert `code` where `block` ends: after its last statement, or before a final `return`/`raise` unless
        that statement is `anchor` itself (`return train(...)`: nothing can follow it). False when not inserted."""
        last = block.body[-1]
        ends = isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[-1], (cst.Return, cst.Raise))
        if ends and last is anchor:
            return False
        self.insert(site, "before" if ends else "end", code, kind, block=block, stmt=last)
        return True

    def rewrite_call(self, site: Site, fn: Callable[[cst.Call], cst.Call], kind: str) -> None:
        self._touch(site)
        self.calls[id(site.node)] = (fn, len(self.edits))
        self.edits.append({"where": "at", "kind": kind})


    def add_import(self, code: str) -> None:
        if code not in self.imports:
            self.imports.append(code)


class _Apply(cst.CSTTransformer):
    def __init__(self, plan: Plan):
        super().__init__()
        self.plan = plan
        self.placed: dict = {}  # id(new node) -> index of its edit in plan.edits

    def on_visit(self, node):
        return id(node) in self.plan.needed

    def leave_Call(self, original, updated):
        entry = self.plan.calls.get(id(original))
        if not entry:
            return updated
        new = entry[0](updated)
        self.placed[id(new)] = entry[1]
        return new

    def leave_IndentedBlock(self, original, updated):
        return self._block(original, updated)

    def leave_Module(self, original, updated):
        updated = self._block(original, updated)
        if self.plan.imports:
            updated = self._imports(updated)
        return updated

    def _block(self, original, updated):
        inserts = self.plan.inserts.get(id(original), [])
        if not inserts:
            return updated
        index = {id(s): i for i, s in enumerate(original.body)}
        before, after, end = {}, {}, {}
        for stmt, where, new, key in inserts:
            self.placed[id(new[0])] = key
            {"before": before, "after": after, "end": end}[where].setdefault(index[id(stmt)], []).extend(new)
        out = []
        for i, stmt in enumerate(updated.body):
            new = before.get(i, [])
            if new and getattr(stmt, "leading_lines", ()):
                # Comments and blank lines above a statement stay above what is inserted before it.
                moved = new[0].with_changes(leading_lines=stmt.leading_lines)
                self.placed[id(moved)] = self.placed[id(new[0])]
                new = [moved, *new[1:]]
                stmt = stmt.with_changes(leading_lines=())
            out.extend(new)
            out.append(stmt)
            out.extend(after.get(i, []) + end.get(i, []))
        return updated.with_changes(body=out)

    def _imports(self, module: cst.Module) -> cst.Module:
        new = []
        for code in self.plan.imports:
            new.extend(self.plan.snippet(f"{code}  {MARK}"))
        self.placed[id(new[0])] = "import"
        body = list(module.body)
        last = None
        for i, stmt in enumerate(body):
            if m_is_import(stmt):
                last = i
        if last is None:
            last = -1
            if body and _is_docstring(body[0]):
                last = 0
        return module.with_changes(body=body[: last + 1] + new + body[last + 1:])


def m_is_import(stmt) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body)


def _is_docstring(stmt) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1
            and isinstance(stmt.body[0], cst.Expr) and isinstance(stmt.body[0].value, (cst.SimpleString,
                                                                                      cst.ConcatenatedString)))


def apply(plan: Plan) -> tuple[str, list[dict]]:
    """The edited source, and the edits with the line where each now is (one render does both)."""
    if plan.imports:
        plan.needed.add(id(plan.analysis.module))
    applier = _Apply(plan)
    module = plan.analysis.module.visit(applier)
    code, lines = render(module, applier.placed)
    edits = [{"line": lines.get(i), **e} for i, e in enumerate(plan.edits)]
    if plan.imports:
        edits.append({"line": lines.get("import"), "where": "at", "kind": "; ".join(plan.imports)})
    return code, sorted(edits, key=lambda e: e["line"] or 0)


def render(module: cst.Module, targets: dict) -> tuple[str, dict]:
    """Generate the code and note the line of each target node on the way ({key: line})."""
    from libcst._nodes.internal import CodegenState

    newline = module.default_newline
    lines: dict = {}

    class _State(CodegenState):
        counted = 0
        line = 1

        def before_codegen(self, node):
            key = targets.get(id(node))
            if key is not None:
                self.line += "".join(self.tokens[self.counted:]).count(newline)
                self.counted = len(self.tokens)
                lines[key] = self.line + own_offset(node)
            super().before_codegen(node)

    state = _State(default_indent=module.default_indent, default_newline=newline)
    module._codegen(state)
    return "".join(state.tokens), lines
