"""Sweep parameters: every distribution of W&B's sweep format, validated up front, sampled within bounds.

A sampled value always respects the declared bounds and type: quantized values are moved to the nearest
multiple of q inside [min, max], integer distributions give ints, and values computed through exp/log are
clamped to the range they were declared with (floating-point round trips can step over it by one ulp).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from expkit.errors import ExpkitError

DISTRIBUTIONS = (
    "constant", "categorical", "categorical_w_probabilities", "int_uniform", "uniform", "q_uniform",
    "log_uniform", "log_uniform_values", "q_log_uniform", "q_log_uniform_values", "inv_log_uniform",
    "inv_log_uniform_values", "normal", "q_normal", "log_normal", "q_log_normal", "beta", "q_beta",
)
GRID_OK = ("constant", "categorical", "categorical_w_probabilities", "int_uniform", "q_uniform")
_KEYS = {"value", "values", "distribution", "min", "max", "mu", "sigma", "q", "a", "b", "probabilities"}


@dataclass
class Param:
    name: str
    distribution: str
    spec: dict[str, Any] = field(default_factory=dict)
    children: list[tuple[str, "Param"]] = field(default_factory=list)  # W&B's nested `parameters:` (key, param)

    @property
    def is_constant(self) -> bool:
        if self.distribution == "nested":
            return all(child.is_constant for _, child in self.children)
        return self.distribution == "constant"

    def get(self, key: str, default: Any = None) -> Any:
        return self.spec.get(key, default)

    def bounds(self) -> tuple[float, float] | None:
        """The value range a sampled value must fall in (None when unbounded or categorical)."""
        d, lo, hi = self.distribution, self.get("min"), self.get("max")
        if d in ("int_uniform", "uniform", "q_uniform", "log_uniform_values", "q_log_uniform_values",
                 "inv_log_uniform_values"):
            return lo, hi
        if d in ("log_uniform", "q_log_uniform"):
            return math.exp(lo), math.exp(hi)
        if d == "inv_log_uniform":
            return math.exp(-hi), math.exp(-lo)
        if d in ("beta", "q_beta"):
            return 0.0, 1.0
        return None

    def to_wandb(self) -> dict[str, Any]:
        if self.distribution == "nested":
            return {"parameters": {key: child.to_wandb() for key, child in self.children}}
        if self.distribution == "constant":
            return {"value": self.get("value")}
        if self.distribution == "categorical":
            return {"values": list(self.get("values"))}
        return {"distribution": self.distribution, **{k: v for k, v in self.spec.items() if k != "distribution"}}


def parse_param(name: str, raw: Any) -> Param:
    """One entry of `parameters:` -> Param, with W&B's inference when `distribution` is absent."""
    where = f"parameter '{name}'"
    if not isinstance(raw, dict):
        raw = {"value": raw}  # `lr: 0.1` is a constant, like W&B's {value: 0.1}
    if "parameters" in raw:  # W&B's nested parameters: the value is a dict of the children's values
        children = raw["parameters"]
        if set(raw) != {"parameters"} or not isinstance(children, dict) or not children:
            raise ExpkitError(f"{where}: nested parameters take only a non-empty `parameters:` mapping",
                              f"write {name}: {{parameters: {{child: {{values: [...]}}}}}}")
        return Param(name, "nested", {"parameters": children},
                     [(str(k), parse_param(f"{name}.{k}", v)) for k, v in children.items()])
    unknown = set(raw) - _KEYS
    if unknown:
        raise ExpkitError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}",
                          f"a parameter takes: {', '.join(sorted(_KEYS))}")
    spec = dict(raw)
    dist = spec.get("distribution")
    if dist is None:
        if "value" in spec:
            dist = "constant"
        elif "values" in spec:
            dist = "categorical_w_probabilities" if "probabilities" in spec else "categorical"
        elif "min" in spec and "max" in spec:
            both_int = all(isinstance(spec[k], int) and not isinstance(spec[k], bool) for k in ("min", "max"))
            dist = "int_uniform" if both_int else "uniform"
        elif "mu" in spec or "sigma" in spec:
            dist = "normal"
        else:
            raise ExpkitError(f"{where}: give value, values, min/max, or a distribution",
                              f"e.g. {name}: {{values: [0.1, 0.01]}} or {{distribution: uniform, min: 0, max: 1}}")
    if dist not in DISTRIBUTIONS:
        import difflib

        close = difflib.get_close_matches(str(dist), DISTRIBUTIONS, n=2)
        raise ExpkitError(f"{where}: unknown distribution '{dist}'",
                          f"did you mean {' or '.join(close)}?" if close else f"one of: {', '.join(DISTRIBUTIONS)}")
    spec["distribution"] = dist
    p = Param(name, dist, spec)
    _validate(p, where)
    return p


def _num(p: Param, key: str, where: str, default: Any = None, integer: bool = False) -> float:
    value = p.get(key, default)
    if value is None:
        raise ExpkitError(f"{where}: the {p.distribution} distribution needs '{key}'",
                          f"add {key}: <number> to {p.name}")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        kind = "an integer" if integer else "a number"
        hint = f"write {key}: <{kind.split()[-1]}>"
        if isinstance(value, str):
            hint += " without quotes (1e-5, 5E-4 and +3 are numbers; '1e-5' in quotes is text)"
        raise ExpkitError(f"{where}: '{key}' must be {kind}, got {value!r}", hint)
    if not math.isfinite(value):
        raise ExpkitError(f"{where}: '{key}' must be a finite number, got {value!r}",
                          f"give {key} a real bound: .inf and .nan cannot be sampled from")
    return value


def _validate(p: Param, where: str) -> None:
    d = p.distribution
    if d == "constant":
        if "value" not in p.spec:
            raise ExpkitError(f"{where}: a constant needs 'value'", f"write {p.name}: {{value: ...}}")
        return
    if d.startswith("categorical"):
        values = p.get("values")
        if not isinstance(values, list) or not values:
            raise ExpkitError(f"{where}: 'values' must be a non-empty list", f"write {p.name}: {{values: [a, b]}}")
        if d == "categorical_w_probabilities":
            probs = p.get("probabilities")
            if not isinstance(probs, list) or len(probs) != len(values) or any(
                    not isinstance(x, (int, float)) or x < 0 for x in probs) or abs(sum(probs) - 1) > 1e-6:
                raise ExpkitError(f"{where}: 'probabilities' must be {len(values)} non-negative numbers summing to 1",
                                  "give one probability per value")
        return
    if d in ("normal", "q_normal", "log_normal", "q_log_normal"):
        _num(p, "mu", where, 0)
        if _num(p, "sigma", where, 1) <= 0:
            raise ExpkitError(f"{where}: sigma must be > 0", "give a positive standard deviation")
    elif d in ("beta", "q_beta"):
        if _num(p, "a", where, 1) <= 0 or _num(p, "b", where, 1) <= 0:
            raise ExpkitError(f"{where}: a and b must be > 0", "give positive shape parameters a and b")
    else:
        integer = d == "int_uniform"
        lo, hi = _num(p, "min", where, integer=integer), _num(p, "max", where, integer=integer)
        if lo > hi or (lo == hi and d != "int_uniform"):
            raise ExpkitError(f"{where}: min ({lo}) must be below max ({hi})", "swap them, or use value: for a constant")
        if d in ("log_uniform_values", "q_log_uniform_values", "inv_log_uniform_values") and lo <= 0:
            raise ExpkitError(f"{where}: {d} needs min > 0 (it samples in log space)",
                              "use a positive min, or log_uniform whose min/max are exponents")
        if d in ("log_uniform", "q_log_uniform", "inv_log_uniform") and max(abs(lo), abs(hi)) > 700:
            raise ExpkitError(f"{where}: {d} takes exponents (e^min .. e^max), and e^{max(abs(lo), abs(hi)):g} is "
                              "beyond any float", f"did you mean distribution: {d}_values (min/max as the values)?")
    if d.startswith("q_"):
        if _num(p, "q", where, 1) <= 0:
            raise ExpkitError(f"{where}: q must be > 0", "q is the step values are rounded to")
        b = p.bounds()
        if b is not None and not _multiples(b[0], b[1], p.get("q", 1)):
            raise ExpkitError(f"{where}: no multiple of q={p.get('q', 1)} lies within [{b[0]:g}, {b[1]:g}]",
                              "use a smaller q or a wider range")


def _multiples(lo: float, hi: float, q: float) -> tuple[int, int] | None:
    k_lo, k_hi = math.ceil(lo / q - 1e-9), math.floor(hi / q + 1e-9)
    return (k_lo, k_hi) if k_lo <= k_hi else None


def _quantize(x: float, q: float, bounds: tuple[float, float] | None) -> float | int:
    k = round(x / q)
    if bounds is not None:
        k_lo, k_hi = _multiples(bounds[0], bounds[1], q)
        k = min(max(k, k_lo), k_hi)
    value = k * q
    if isinstance(q, int):
        return int(value)
    digits = max(0, -math.floor(math.log10(q)) + 6)
    rounded = round(value, digits)  # 0.30000000000000004 -> 0.3, unless that steps outside the bounds
    if bounds is not None and not bounds[0] <= rounded <= bounds[1]:
        return _clamp(value, bounds)
    return rounded


def _clamp(x: float, bounds: tuple[float, float] | None) -> float:
    if bounds is None:
        return x
    return min(max(x, bounds[0]), bounds[1])


def sample(p: Param, rng: random.Random) -> Any:
    """One value drawn from p's distribution."""
    d, g = p.distribution, p.get
    if d == "nested":
        return {key: sample(child, rng) for key, child in p.children}
    if d == "constant":
        return g("value")
    if d == "categorical":
        return rng.choice(g("values"))
    if d == "categorical_w_probabilities":
        return rng.choices(g("values"), weights=g("probabilities"))[0]
    if d == "int_uniform":
        return rng.randint(g("min"), g("max"))
    b = p.bounds()
    if d == "uniform":
        x = rng.uniform(g("min"), g("max"))
    elif d == "q_uniform":
        x = rng.uniform(g("min"), g("max"))
    elif d in ("log_uniform", "q_log_uniform"):
        x = math.exp(rng.uniform(g("min"), g("max")))
    elif d in ("log_uniform_values", "q_log_uniform_values"):
        x = math.exp(rng.uniform(math.log(g("min")), math.log(g("max"))))
    elif d == "inv_log_uniform":
        x = math.exp(-rng.uniform(g("min"), g("max")))
    elif d == "inv_log_uniform_values":
        x = 1.0 / math.exp(rng.uniform(math.log(1 / g("max")), math.log(1 / g("min"))))
    elif d in ("normal", "q_normal"):
        x = rng.gauss(g("mu", 0), g("sigma", 1))
    elif d in ("log_normal", "q_log_normal"):
        x = math.exp(rng.gauss(g("mu", 0), g("sigma", 1)))
    elif d in ("beta", "q_beta"):
        x = rng.betavariate(g("a", 1), g("b", 1))
    else:  # pragma: no cover - parse_param rejects unknown names
        raise ValueError(d)
    if d.startswith("q_"):
        return _quantize(x, g("q", 1), b)
    return _clamp(float(x), b)


class GridAxis:
    """The values one parameter takes in a grid, computed on demand: `size` is a plain int (it may exceed what
    len() can return) and `at(i)` the i-th value, so a grid of 10^30 points is never a list."""

    def __init__(self, size: int, at):
        self.size, self.at = size, at

    def __iter__(self):
        return (self.at(i) for i in range(self.size))


def grid_values(p: Param) -> GridAxis:
    """The values a grid sweep tries for p, in order."""
    d = p.distribution
    if d == "nested":
        axes = [(key, grid_values(child)) for key, child in p.children]

        def at(i: int) -> dict[str, Any]:
            out = {}
            for key, axis in reversed(axes):  # the last child varies fastest, as at the top level
                i, j = divmod(i, axis.size)
                out[key] = axis.at(j)
            return {key: out[key] for key, _ in axes}

        return GridAxis(math.prod(axis.size for _, axis in axes), at)
    if d == "constant":
        return GridAxis(1, lambda _i: p.get("value"))
    if d.startswith("categorical"):
        values = list(p.get("values"))
        return GridAxis(len(values), values.__getitem__)
    if d == "int_uniform":
        lo = p.get("min")
        return GridAxis(p.get("max") - lo + 1, lambda i: lo + i)
    if d == "q_uniform":
        q = p.get("q", 1)
        k_lo, k_hi = _multiples(p.get("min"), p.get("max"), q)
        return GridAxis(k_hi - k_lo + 1, lambda i: _quantize((k_lo + i) * q, q, None))
    raise ExpkitError(f"parameter '{p.name}': a grid sweep cannot enumerate the {d} distribution",
                      "give it values: [...], or use method: random or bayes")


def grid_size(params: list[Param]) -> int:
    """How many combinations a grid over params has (computed, not enumerated)."""
    return math.prod(grid_values(p).size for p in params)


def grid(params: list[Param], limit: int | None = None) -> Iterator[dict[str, Any]]:
    """The combinations in order (declared order, the last parameter varying fastest), the first `limit` only.

    Each combination is computed from its index, so asking for 5 of 10^9 costs 5."""
    axes = [grid_values(p) for p in params]
    total = math.prod(a.size for a in axes)
    names = [p.name for p in params]
    index = 0
    while index < (total if limit is None else min(limit, total)):
        combo, rest = [], index
        for axis in reversed(axes):
            rest, i = divmod(rest, axis.size)
            combo.append(axis.at(i))
        yield dict(zip(names, reversed(combo)))
        index += 1


def random_trial(params: list[Param], seed: int, index: int) -> dict[str, Any]:
    """Trial `index` of a random sweep: depends only on (seed, index), so a resumed sweep redraws the same."""
    rng = random.Random(f"expkit:{seed}:{index}")
    return {p.name: sample(p, rng) for p in params}


def check_value(p: Param, value: Any) -> bool:
    """True when `value` is one p could produce (type and bounds): used by tests and on resume."""
    d = p.distribution
    if d == "nested":
        return isinstance(value, dict) and set(value) == {k for k, _ in p.children} and all(
            check_value(child, value[key]) for key, child in p.children)
    if d == "constant":
        return value == p.get("value")
    if d.startswith("categorical"):
        return value in p.get("values")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if d == "int_uniform" or (d.startswith("q_") and isinstance(p.get("q", 1), int)):
        if not isinstance(value, int):
            return False
    b = p.bounds()
    if b is not None and not (b[0] - 1e-12 <= value <= b[1] + 1e-12):
        return False
    if d.startswith("q_"):
        q = p.get("q", 1)
        return abs(value / q - round(value / q)) < 1e-6
    return True
