"""A small, fast YAML writer for plain data (dict, list, str, int, float, bool, None).

results.yaml is rewritten after every sub-experiment; PyYAML's pure-Python representer made that the
slowest step of a plan run. Strings that could be read back as anything else are double-quoted with
JSON escapes (a JSON string is a valid YAML double-quoted scalar), so yaml.safe_load returns the same data.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Callable

_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./@ -]*[A-Za-z0-9_./)]$|^[A-Za-z_]$")
_UNPRINTABLE = re.compile("[\x7f-\x9f\ud800-\udfff\ufeff\ufffe\uffff\u2028\u2029\x85]")
_SPECIAL = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "none", "nan", "inf"}


def _str(text: str) -> str:
    if _PLAIN.fullmatch(text) and text.lower() not in _SPECIAL and ": " not in text and " #" not in text \
            and not text.endswith(" "):
        return text
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        if "." not in text:  # YAML 1.1 (PyYAML) reads a float only with a dot: 1e+20 -> 1.0e+20
            mant, _, exp = text.partition("e")
            text = mant + ".0" + ("e" + exp if exp else "")
        return text
    return _str(str(value))


def _lines(value: Any, indent: int, out: list[str]) -> None:
    pad = "  " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            head = f"{pad}{_scalar(key) if not isinstance(key, str) else _str(key)}:"
            if isinstance(item, (dict, list)) and item:
                out.append(head)
                _lines(item, indent + 1 if isinstance(item, dict) else indent, out)
            else:
                out.append(f"{head} {_inline(item)}")
    else:  # a non-empty list
        for item in value:
            if isinstance(item, dict) and item:
                sub: list[str] = []
                _lines(item, indent + 1, sub)
                out.append(f"{pad}- {sub[0].lstrip()}")
                out.extend(sub[1:])
            elif isinstance(item, list) and item:
                sub = []
                _lines(item, indent + 1, sub)
                out.append(f"{pad}- {sub[0].lstrip()}")
                out.extend(sub[1:])
            else:
                out.append(f"{pad}- {_inline(item)}")


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    if isinstance(value, (tuple, set)):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    return _scalar(value)


def dump(data: dict[str, Any]) -> str:
    if not data:
        return "{}\n"
    out: list[str] = []
    _lines(data, 0, out)
    return "\n".join(out) + "\n"


def dump_reusing(data: dict[str, Any], prepare: Callable[[Any], Any], reuse: dict, depth: int = 2) -> tuple[str, dict]:
    """dump(prepare(data)) for a document rewritten again and again with a few entries changed (results.yaml after
    every unit): each entry `depth` mappings deep is prepared and rendered only when its value is new. `reuse` is
    what the previous call returned, {(level, key, value's repr): lines}; returns (text, the entries used now)."""
    if not data:
        return "{}\n", {}
    out: list[str] = []
    used: dict = {}
    _reusing(data, 0, prepare, reuse, used, depth, out)
    return "\n".join(out) + "\n", used


def _reusing(data: dict[str, Any], level: int, prepare: Callable[[Any], Any], reuse: dict, used: dict, depth: int,
             out: list[str]) -> None:
    for key, item in data.items():
        if level < depth and isinstance(item, dict) and item:
            out.append(f"{'  ' * level}{_scalar(key) if not isinstance(key, str) else _str(key)}:")
            _reusing(item, level + 1, prepare, reuse, used, depth, out)
            continue
        memo = (level, repr(key), repr(item))
        lines = reuse.get(memo)
        if lines is None:
            lines = []
            _lines({key: prepare(item)}, level, lines)
        used[memo] = lines
        out.extend(lines)
