"""One pass over a script: what it imports, calls and defines, and where each of those sits.

Every codemod plans its edits from this summary instead of walking the tree again: a 1,500-line script
is visited once (LibCST's metadata providers and AddImportsVisitor each cost several full passes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst
import libcst.matchers as m

Block = cst.Module | cst.IndentedBlock


def dotted(node: cst.BaseExpression) -> str | None:
    """`a.b.c` for a Name/Attribute chain, else None."""
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
        return ".".join(reversed(parts))
    return None


@dataclass
class Site:
    """A node of interest with the path of (block, statement) pairs from the module down to it."""

    node: cst.CSTNode
    path: tuple  # ((block, stmt), ...) outermost first
    func: cst.FunctionDef | None  # innermost enclosing function
    loops: tuple  # enclosing For/While nodes, outermost first
    ancestors: tuple  # every node from the module down to (not including) node

    @property
    def stmt(self) -> cst.BaseStatement:
        return self.path[-1][1]

    @property
    def block(self) -> Block:
        return self.path[-1][0]

    def stmt_in(self, block: Block) -> cst.BaseStatement | None:
        for blk, stmt in self.path:
            if blk is block:
                return stmt
        return None


@dataclass
class CallSite(Site):
    name: str | None = None  # dotted name as written (`pl.Trainer`, `model.fit`)
    qualname: str | None = None  # resolved through imports (`pytorch_lightning.Trainer`)


@dataclass
class Analysis:
    module: cst.Module
    imports: dict = field(default_factory=dict)  # local alias -> qualified name
    import_stmts: list = field(default_factory=list)  # top-level import statements, in order
    calls: list = field(default_factory=list)  # CallSite
    functions: dict = field(default_factory=dict)  # name -> FunctionDef (first definition)
    func_sites: dict = field(default_factory=dict)  # FunctionDef -> Site
    assigns: list = field(default_factory=list)  # Site of Assign/AnnAssign statements (node = small statement)
    dataclasses: set = field(default_factory=set)  # names of classes decorated with @dataclass
    wandb_lines: list = field(default_factory=list)  # Site of every `wandb` reference
    loops: list = field(default_factory=list)  # Site of every For/While statement

    def qualify(self, name: str | None) -> str | None:
        if not name:
            return None
        head, _, rest = name.partition(".")
        base = self.imports.get(head)
        if base is None:
            return None
        return f"{base}.{rest}" if rest else base

    def uses(self, *packages: str) -> bool:
        return any(q == p or q.startswith(p + ".") for q in self.imports.values() for p in packages)

    def calls_to(self, *qualnames: str, suffix: str | None = None) -> list:
        out = []
        for c in self.calls:
            q = c.qualname or ""
            if q in qualnames or (suffix and (c.name or "").endswith(suffix)):
                out.append(c)
        return out

    def line_of(self, node: cst.CSTNode) -> int:
        return lines_of(self.module, [node])[id(node)]


def lines_of(module: cst.Module, targets: list) -> dict:
    """{id(node): 1-based line} for many nodes in one partial render (PositionProvider would cost a full
    metadata pass); rendering stops once the last target is reached."""
    from libcst._nodes.internal import CodegenState

    wanted = {id(t): t for t in targets}
    found: dict = {}
    newline = module.default_newline

    class _Done(Exception):
        pass

    class _State(CodegenState):
        counted = 0
        lines = 1

        def before_codegen(self, node):
            if id(node) in wanted and id(node) not in found:
                new = self.tokens[self.counted:]
                self.lines += "".join(new).count(newline)
                self.counted = len(self.tokens)
                found[id(node)] = self.lines + _own_offset(node)
                if len(found) == len(wanted):
                    raise _Done
            super().before_codegen(node)

    state = _State(default_indent=module.default_indent, default_newline=newline)
    try:
        module._codegen(state)
    except _Done:
        pass
    return found


def _own_offset(node) -> int:
    """A statement's own leading blank lines, comments and decorators come before its keyword."""
    if not isinstance(node, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
        return 0
    n = len(node.leading_lines)
    if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
        n += sum(1 + len(d.leading_lines) for d in node.decorators) + len(node.lines_after_decorators)
    return n


_BORING = {cst.Arg, cst.Element, cst.StarredElement, cst.DictElement, cst.Attribute, cst.Subscript,
           cst.SubscriptElement, cst.Index, cst.Slice, cst.BinaryOperation, cst.BooleanOperation, cst.Comparison,
           cst.ComparisonTarget, cst.UnaryOperation, cst.Tuple, cst.List, cst.Dict, cst.Param, cst.Parameters,
           cst.Annotation, cst.Expr, cst.FormattedString, cst.FormattedStringExpression, cst.FormattedStringText,
           cst.AssignTarget, cst.Return, cst.AugAssign, cst.Else, cst.Decorator, cst.ImportAlias, cst.Lambda,
           cst.IfExp, cst.Await, cst.Yield, cst.Pass, cst.Break, cst.Continue, cst.ConcatenatedString,
           cst.CompFor, cst.ListComp, cst.GeneratorExp, cst.DictComp, cst.SetComp, cst.Set, cst.WithItem,
           cst.AsName, cst.ExceptHandler, cst.Finally, cst.Raise, cst.Assert, cst.Global, cst.Nonlocal, cst.Del}
_STATEMENT_TYPES = (cst.SimpleStatementLine, cst.BaseCompoundStatement)


class _Collector(cst.CSTVisitor):
    def __init__(self, analysis: Analysis):
        super().__init__()
        self.a = analysis
        self.stack: list[cst.CSTNode] = []
        self.path: list[tuple] = []
        self.blocks: list[Block] = []
        self.funcs: list[cst.FunctionDef] = []
        self.loops: list[cst.CSTNode] = []

    def _site(self, cls, node, **kw):
        return cls(node=node, path=tuple(self.path), func=self.funcs[-1] if self.funcs else None,
                   loops=tuple(self.loops), ancestors=tuple(self.stack), **kw)

    def on_visit(self, node):
        if type(node) in _BORING:
            self.stack.append(node)
            return True
        if isinstance(node, (cst.Module, cst.IndentedBlock)):
            self.blocks.append(node)
        elif isinstance(node, _STATEMENT_TYPES):
            if self.blocks and any(s is node for s in self.blocks[-1].body):
                self.path.append((self.blocks[-1], node))
        if isinstance(node, cst.FunctionDef):
            self.a.func_sites[node] = self._site(Site, node)
            self.a.functions.setdefault(node.name.value, node)
        elif isinstance(node, cst.ClassDef):
            if any(dotted(d.decorator if not isinstance(d.decorator, cst.Call) else d.decorator.func)
                   in ("dataclass", "dataclasses.dataclass") for d in node.decorators):
                self.a.dataclasses.add(node.name.value)
        elif isinstance(node, cst.Call):
            name = dotted(node.func)
            self.a.calls.append(self._site(CallSite, node, name=name, qualname=self.a.qualify(name)))
        elif isinstance(node, (cst.For, cst.While)):
            self.a.loops.append(self._site(Site, node))
        elif isinstance(node, (cst.Assign, cst.AnnAssign)):
            self.a.assigns.append(self._site(Site, node))
        elif isinstance(node, cst.Name) and "wandb" in node.value.lower():
            self.a.wandb_lines.append(self._site(Site, node))
        elif isinstance(node, cst.SimpleString) and "wandb" in node.value.lower():
            self.a.wandb_lines.append(self._site(Site, node))
        elif isinstance(node, (cst.Import, cst.ImportFrom)) and len(self.blocks) == 1:
            self._record_import(node)
        self.stack.append(node)
        if isinstance(node, cst.FunctionDef):
            self.funcs.append(node)
        elif isinstance(node, (cst.For, cst.While)):
            self.loops.append(node)
        return True

    def on_leave(self, node):
        self.stack.pop()
        if type(node) in _BORING:
            return
        if isinstance(node, (cst.Module, cst.IndentedBlock)):
            self.blocks.pop()
        elif isinstance(node, _STATEMENT_TYPES):
            if self.path and self.path[-1][1] is node:
                self.path.pop()
        if isinstance(node, cst.FunctionDef):
            self.funcs.pop()
        elif isinstance(node, (cst.For, cst.While)):
            self.loops.pop()

    def _record_import(self, node):
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = dotted(alias.name)
                if alias.asname:
                    self.a.imports[alias.asname.name.value] = full
                else:
                    head = full.split(".")[0]
                    self.a.imports.setdefault(head, head)
                    self.a.imports[full] = full
        else:
            if node.relative or node.module is None:
                base = "." * len(node.relative) + (dotted(node.module) or "" if node.module else "")
            else:
                base = dotted(node.module)
            if isinstance(node.names, cst.ImportStar):
                return
            for alias in node.names:
                local = alias.asname.name.value if alias.asname else alias.name.value
                self.a.imports[local] = f"{base}.{dotted(alias.name)}"
        if self.path:
            self.a.import_stmts.append(self.path[-1][1])


_SKIP = (cst.BaseParenthesizableWhitespace, cst.Newline, cst.Comment, cst.EmptyLine, cst.TrailingWhitespace,
         cst.LeftParen, cst.RightParen, cst.LeftSquareBracket, cst.RightSquareBracket, cst.LeftCurlyBrace,
         cst.RightCurlyBrace, cst.Comma, cst.Dot, cst.Colon, cst.AssignEqual,
         cst.Semicolon, cst.ImportStar, cst.BaseBinaryOp, cst.BaseBooleanOp, cst.BaseCompOp, cst.BaseUnaryOp,
         cst.BaseAugOp, cst.Integer, cst.Float, cst.Imaginary)
_FIELDS: dict = {}


def _child_fields(cls) -> tuple:
    names = _FIELDS.get(cls)
    if names is None:
        import dataclasses

        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


_IS_NODE: dict = {}  # concrete type -> walk into it? (isinstance against LibCST's ABCs is slow: once per type)


def _walkable(t) -> bool:
    ok = _IS_NODE.get(t)
    if ok is None:
        ok = _IS_NODE[t] = issubclass(t, cst.CSTNode) and not issubclass(t, _SKIP)
    return ok


def _walk(node, v) -> None:
    """Depth-first over the tree in field order, without LibCST's visit machinery (which rebuilds every node:
    the analysis is read-only, and this walk is several times faster on a large script)."""
    v.on_visit(node)
    for name in _child_fields(type(node)):
        val = getattr(node, name)
        t = type(val)
        if t is tuple or t is list:
            for x in val:
                if _walkable(type(x)):
                    _walk(x, v)
        elif _walkable(t):
            _walk(val, v)
    v.on_leave(node)


def analyze(module: cst.Module) -> Analysis:
    a = Analysis(module=module)
    _walk(module, _Collector(a))
    return a


def is_main_guard(stmt: cst.CSTNode) -> bool:
    """`if __name__ == "__main__":`"""
    return m.matches(stmt, m.If(test=m.Comparison(left=m.Name("__name__"))))
