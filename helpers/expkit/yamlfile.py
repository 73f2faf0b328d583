"""YAML as people write it, read safely: the one loader for plans, sweep specs, configs and results.

PyYAML alone gets three things wrong for expkit's users:
- it follows YAML 1.1, where `1e-5` is a *string* (every W&B sweep author writes `min: 1e-5`): here numbers are
  read as YAML 1.2 reads them (`1e-5`, `5E-4`, `+3`, `.inf`);
- a key written twice in one mapping silently keeps the last value: here it is an error naming both lines;
- aliases are expanded without limit, so a 1 KB "billion laughs" file takes all memory once anything walks it: here
  the nodes aliases add once expanded are counted on the node graph (numbers only, nothing is expanded) and refused
  beyond a small budget, whatever the size of an alias-free document,
  and files over a size limit are refused before they are parsed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from expkit.errors import ExpkitError

MAX_BYTES = 16 * 1024 * 1024        # larger than any hand-written plan, spec or config
MAX_ALIAS_NODES = 100_000           # nodes aliases add once expanded; `<<: *defaults` adds a few, a billion-laughs 10^9
MAX_DEPTH = 200                     # nesting deeper than this breaks every recursive reader downstream
MERGE_TAG = "tag:yaml.org,2002:merge"
_HINT = "check the indentation and quoting on that line (quote values containing ': ')"

# YAML 1.2 core-schema floats that YAML 1.1 reads as strings: an exponent without a dot or without a sign.
_FLOAT_12 = re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$|^[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?$")


class YamlError(ExpkitError):
    """A YAML file that cannot be read safely; `line` is the 1-based line of the problem, when known, and
    `problem` the message without the file name (for callers that name the file their own way)."""

    def __init__(self, message: str, hint: str | None = None, line: int | None = None, problem: str | None = None):
        super().__init__(message, hint or _HINT)
        self.line = line
        self.problem = problem or message


_loaders: dict[bool, type] = {}


def _loader_class(fast: bool) -> type:
    """A SafeLoader (C-accelerated when libyaml is there) that also reads YAML 1.2 numbers."""
    if fast not in _loaders:
        import yaml

        base = getattr(yaml, "CSafeLoader", yaml.SafeLoader) if fast else yaml.SafeLoader
        cls = type("ExpkitLoader", (base,), {})
        cls.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+.0123456789"))
        _loaders[fast] = cls
    return _loaders[fast]


def _read(src: str | Path, source: str | None, max_bytes: int) -> tuple[str, str]:
    """(text, name for messages); refuses files too large or not text."""
    if isinstance(src, Path):
        name = source or str(src)
        try:
            size = src.stat().st_size
            if size > max_bytes:
                raise YamlError(f"{name} is {size / 2**20:.1f} MB, over the {max_bytes / 2**20:.0f} MB limit for a "
                                f"YAML file", "a plan, sweep spec or config this large is almost certainly not the "
                                "file you meant; check the path")
            data = src.read_bytes()
        except OSError as exc:
            raise YamlError(f"cannot read {name}: {exc.strerror or exc}", "check the path and its permissions") from None
        if b"\0" in data:
            raise YamlError(f"{name} is not a text file (it contains NUL bytes)", "give the path of a YAML file")
        try:
            return data.decode("utf-8-sig"), name
        except UnicodeDecodeError as exc:
            raise YamlError(f"{name} is not UTF-8 text (byte {exc.start})", "save it as UTF-8") from None
    name = source or "<yaml>"
    if len(src) > max_bytes:
        raise YamlError(f"{name} is over the {max_bytes / 2**20:.0f} MB limit for a YAML file",
                        "check that this is the file you meant")
    return src, name


def _syntax_error(exc: Exception, name: str) -> YamlError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    where = f" (line {line})" if line else ""
    problem += f" ({context})" if context else ""
    return YamlError(f"{name} is not valid YAML{where}: {problem}", line=line, problem=problem)


def _check(root: Any, name: str, max_alias_nodes: int) -> None:
    """Duplicate keys, nesting depth and the alias-expanded size, in one pass over the node graph (no recursion)."""
    import yaml

    expanded: dict[int, int] = {}  # id(node) -> nodes it stands for once expanded
    on_path: set[int] = set()
    stack: list[tuple[Any, bool, int]] = [(root, False, 0)]
    while stack:
        node, done, depth = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            children = _children(node)
            expanded[key] = 1 + sum(expanded[id(c)] for c in children)
            if expanded[key] - len(expanded) > max_alias_nodes:  # what aliases add beyond the nodes written
                raise YamlError(f"{name}: its aliases expand to more than {max_alias_nodes:,} extra nodes "
                                "(an alias bomb?)", "write the values out instead of nesting aliases of aliases",
                                line=node.start_mark.line + 1)
            continue
        if key in expanded:
            continue
        if key in on_path:
            raise YamlError(f"{name}: an alias refers to itself (line {node.start_mark.line + 1})",
                            "a value cannot contain its own anchor", line=node.start_mark.line + 1)
        if depth > MAX_DEPTH:
            raise YamlError(f"{name} is nested more than {MAX_DEPTH} levels deep (line {node.start_mark.line + 1})",
                            "flatten the structure", line=node.start_mark.line + 1)
        on_path.add(key)
        if isinstance(node, yaml.MappingNode):
            _duplicate_keys(node, name)
        stack.append((node, True, depth))
        stack.extend((c, False, depth + 1) for c in _children(node) if id(c) not in expanded)


def _children(node: Any) -> list:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _duplicate_keys(node: Any, name: str) -> None:
    import yaml

    seen: dict[tuple[str, str], int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == MERGE_TAG:
            continue
        line = key_node.start_mark.line + 1
        first = seen.get((key_node.tag, key_node.value))
        if first is not None:
            raise YamlError(f"{name}: key {key_node.value!r} appears twice, on lines {first} and {line}",
                            "keep one of them (YAML would silently use the last)", line=line)
        seen[(key_node.tag, key_node.value)] = line


def load_yaml_node(src: str | Path, *, source: str | None = None, max_bytes: int = MAX_BYTES,
                   max_alias_nodes: int = MAX_ALIAS_NODES, fast: bool = True) -> tuple[Any, Any]:
    """(node graph, data) of a single-document YAML text or file, parsed once; raises YamlError."""
    import yaml

    text, name = _read(src, source, max_bytes)
    loader = _loader_class(fast)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check(node, name, max_alias_nodes)
        return node, loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, name) from None
    except RecursionError:
        raise YamlError(f"{name} is nested more than {MAX_DEPTH} levels deep", "flatten the structure") from None
    finally:
        loader.dispose()


def load_yaml(src: str | Path, *, source: str | None = None, **limits: Any) -> Any:
    """The data of a YAML text (str) or file (Path), like yaml.safe_load but safe on any input."""
    return load_yaml_node(src, source=source, **limits)[1]


def compose_yaml(src: str | Path, *, source: str | None = None, **limits: Any) -> Any:
    """The checked node graph (for line numbers) of a YAML text or file."""
    return load_yaml_node(src, source=source, **limits)[0]
