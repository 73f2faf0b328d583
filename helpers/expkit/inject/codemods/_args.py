"""Call-argument edits shared by the framework codemods (`report_to=`, `logger=`, `callbacks=`, `log_with=`)."""

from __future__ import annotations

import libcst as cst


def expr(code: str) -> cst.BaseExpression:
    return cst.parse_expression(code)


def get_kwarg(call: cst.Call, name: str) -> cst.Arg | None:
    for arg in call.args:
        if arg.keyword and arg.keyword.value == name:
            return arg
    return None


def set_kwarg(call: cst.Call, name: str, value: cst.BaseExpression) -> cst.Call:
    """Replace the value of `name=`, or append `name=value` after the last argument, keeping the layout."""
    args = list(call.args)
    for i, arg in enumerate(args):
        if arg.keyword and arg.keyword.value == name:
            args[i] = arg.with_changes(value=value)
            return call.with_changes(args=args)
    new = cst.Arg(keyword=cst.Name(name), value=value,
                  equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                        whitespace_after=cst.SimpleWhitespace("")))
    if not args:
        return call.with_changes(args=[new])
    last = args[-1]
    if isinstance(last.comma, cst.Comma):
        # Vertical call with a trailing comma: the new argument goes on its own line, indented like the others;
        # a comment after the last argument stays on that argument's line, `)` keeps its own.
        ws = last.comma.whitespace_after
        between = _line_like(call, args, ws)
        if isinstance(ws, cst.ParenthesizedWhitespace) and isinstance(between, cst.ParenthesizedWhitespace):
            keep, closing = between.with_changes(first_line=ws.first_line), ws.with_changes(
                first_line=cst.TrailingWhitespace())
        else:
            keep, closing = between, ws
        new = new.with_changes(comma=cst.Comma(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=closing))
        args[-1] = last.with_changes(comma=last.comma.with_changes(whitespace_after=keep))
        args.append(new)
    else:
        # No trailing comma: `, name=value` right after the last argument; whatever preceded `)` (a newline in a
        # vertical call) still does.
        new = new.with_changes(whitespace_after_arg=last.whitespace_after_arg)
        args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")),
                                     whitespace_after_arg=cst.SimpleWhitespace(""))
        args.append(new)
    return call.with_changes(args=args)


def _line_like(call: cst.Call, args, ws):
    """The whitespace that separates the arguments (a newline + indent in a vertical call)."""
    for arg in args[:-1]:
        if isinstance(arg.comma, cst.Comma):
            return arg.comma.whitespace_after
    if isinstance(call.whitespace_before_args, cst.ParenthesizedWhitespace):
        return call.whitespace_before_args.with_changes(first_line=cst.TrailingWhitespace())
    return ws


def append_to(value: cst.BaseExpression, item: str) -> cst.BaseExpression:
    """`[a, b]` -> `[a, b, item]`; `x` -> `[x, item]`; a list/tuple keeps its own layout."""
    new = cst.Element(expr(item))
    if isinstance(value, (cst.List, cst.Tuple)) and value.elements:
        elems = list(value.elements)
        last = elems[-1]
        if isinstance(last.comma, cst.Comma):
            elems.append(new.with_changes(comma=last.comma))
            elems[-2] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        else:
            elems[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            elems.append(new)
        return cst.List(elements=elems, lbracket=getattr(value, "lbracket", cst.LeftSquareBracket()),
                        rbracket=getattr(value, "rbracket", cst.RightSquareBracket()))
    if isinstance(value, (cst.List, cst.Tuple)):
        return cst.List(elements=[new])
    return cst.List(elements=[cst.Element(value, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))), new])


def string_values(value: cst.BaseExpression) -> list[str] | None:
    """Literal strings of a str / list / tuple expression, or None when it is not a literal."""
    if isinstance(value, cst.SimpleString):
        return [value.evaluated_value]
    if isinstance(value, (cst.List, cst.Tuple)):
        out = []
        for e in value.elements:
            if not isinstance(e.value, cst.SimpleString):
                return None
            out.append(e.value.evaluated_value)
        return out
    return None


def assigned_name(site) -> str | None:
    """`x` when the call at `site` is the whole right-hand side of `x = call(...)`."""
    stmt = site.stmt
    if isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Assign) \
            and stmt.body[0].value is site.node and isinstance(stmt.body[0].targets[0].target, cst.Name):
        return stmt.body[0].targets[0].target.value
    return None
