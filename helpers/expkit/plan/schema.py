"""research_plan.yaml: load the format research projects already use, validate it with file:line:column errors.

Keys expkit does not know are kept and ignored; a key that looks like a misspelled known key
(`sucess_criteria`) is an error with a did-you-mean. The raw mapping of every experiment is kept, so
handlers see the plan entry exactly as written.
"""

from __future__ import annotations

import difflib
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expkit.errors import ExpkitError

PLAN_FILE = "research_plan.yaml"
TOP_KEYS = {"project", "experiments", "gates", "archived", "links", "last_updated", "handlers_root", "seed",
            "timeout", "python"}
EXPERIMENT_KEYS = {"name", "type", "phase", "status", "description", "outcome", "sub_experiments",
                   "success_criteria", "dependencies", "replaces", "achieved", "future_study", "handlers",
                   "seeds", "seed", "timeout", "notes", "python"}
SUB_KEYS = {"id", "timeout", "depends_on", "description", "name"}
CRITERION_KEYS = {"target", "acceptable", "failure", "direction", "note", "from", "relative_to", "metric"}
GATE_KEYS = {"name", "description", "experiments", "unlocks", "status", "note"}
STATUSES = ("not_started", "in_progress", "completed", "passed", "pivoted", "failed", "blocked")


@dataclass
class Criterion:
    metric: str
    target: float
    acceptable: float
    failure: float | None
    direction: str  # lower | higher
    note: str | None = None
    source: str | None = None  # `from:` the sub-experiment whose value counts
    relative_to: str | None = None  # `relative_to:` the baseline sub-experiment: thresholds apply to the delta
    measure: str | None = None  # `metric:` the metric read from results when it differs from the criterion's name

    @property
    def reads(self) -> str:
        """The metric name looked up in each sub-experiment's metrics."""
        return self.measure or self.metric

    def to_json(self) -> dict[str, Any]:
        out = {"target": self.target, "acceptable": self.acceptable, "failure": self.failure,
               "direction": self.direction, "note": self.note, "from": self.source}
        if self.relative_to:
            out["relative_to"] = self.relative_to
        if self.measure:
            out["metric_name"] = self.measure
        return out


@dataclass
class SubExperiment:
    id: str
    timeout: float | None = None
    depends_on: list[str] = field(default_factory=list)


@dataclass
class Experiment:
    id: str
    raw: dict[str, Any]
    subs: list[SubExperiment]
    criteria: list[Criterion]
    dependencies: list[str]
    seeds: list[int]
    timeout: float | None

    @property
    def name(self) -> str:
        return str(self.raw.get("name") or self.id)

    @property
    def prefix(self) -> str:
        """The handler package name by convention: the id up to the first '-' (c1-vlm-latent -> c1)."""
        return self.id.split("-", 1)[0]

    @property
    def sub_ids(self) -> list[str]:
        return [s.id for s in self.subs]


@dataclass
class Plan:
    path: Path
    raw: dict[str, Any]
    experiments: dict[str, Experiment]
    gates: dict[str, dict[str, Any]]
    sha256: str

    @property
    def research_dir(self) -> Path:
        return self.path.parent

    @property
    def root(self) -> Path:
        """The project root: the folder holding research/ (handlers and imports are relative to it)."""
        return self.path.parent.parent if self.path.parent.name == "research" else self.path.parent

    def experiment_dir(self, exp_id: str) -> Path:
        return self.research_dir / "experiments" / exp_id

    def resolve(self, exp_id: str) -> str:
        """An experiment id, or a unique prefix of one: `c1` is `c1-vlm-latent-sufficiency` (the part before the
        first '-' first, then any unique start); anything else raises with a did-you-mean."""
        if exp_id in self.experiments:
            return exp_id
        for matches in ([e for e in self.experiments if e.split("-", 1)[0] == exp_id],
                        [e for e in self.experiments if exp_id and e.startswith(exp_id)]):
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise ExpkitError(f"'{exp_id}' could be any of {len(matches)} experiments: {', '.join(matches)}",
                                  "give more of the experiment id")
        return self.get(exp_id).id

    def get(self, exp_id: str) -> Experiment:
        if exp_id in self.experiments:
            return self.experiments[exp_id]
        close = difflib.get_close_matches(exp_id, list(self.experiments), n=3, cutoff=0.5)
        close += [e for e in self.experiments if e.startswith(exp_id + "-") and e not in close]
        hint = (f"did you mean: {', '.join(close)}?" if close else
                f"experiments in {self.path.name}: {', '.join(self.experiments) or '(none)'}")
        raise ExpkitError(f"no experiment '{exp_id}' in {self.path}", hint)


@dataclass
class Problem:
    path: Path
    line: int
    column: int
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return {"file": str(self.path), "line": self.line, "column": self.column, "message": self.message,
                "hint": self.hint}


class PlanInvalid(ExpkitError):
    def __init__(self, problems: list[Problem]):
        first = problems[0]
        more = f" (and {len(problems) - 1} more problem(s): run `expkit plan validate`)" if len(problems) > 1 else ""
        super().__init__(str(first) + more, first.hint or "fix research_plan.yaml, then `expkit plan validate`")
        self.problems = problems


def find_plan(start: Path | None = None) -> Path:
    """research/research_plan.yaml in the current folder or an ancestor (or research_plan.yaml beside us)."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        for cand in (folder / "research" / PLAN_FILE, folder / PLAN_FILE):
            if cand.is_file():
                return cand
    raise ExpkitError(f"no research/{PLAN_FILE} found in {start} or its parents",
                      "run from your research project, pass --plan PATH, or create one with `expkit plan new EXP_ID`")


def positions(node, path=(), out=None) -> dict[tuple, tuple[int, int]]:
    """Map every key path to the (line, column) of its key (1-based), from the composed YAML node tree."""
    import yaml

    out = {} if out is None else out
    out.setdefault(path, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        for knode, vnode in node.value:
            key = knode.value
            out[path + (key,)] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
            out[path + (key, "=")] = (vnode.start_mark.line + 1, vnode.start_mark.column + 1)
            positions(vnode, path + (key,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[path + (i,)] = (item.start_mark.line + 1, item.start_mark.column + 1)
            positions(item, path + (i,), out)
    return out


class _Checker:
    def __init__(self, path: Path, positions: dict):
        self.path = path
        self.pos = positions
        self.problems: list[Problem] = []

    def add(self, keypath: tuple, message: str, hint: str | None = None, value: bool = False) -> None:
        where = self.pos.get(keypath + ("=",)) if value else None
        where = where or self.pos.get(keypath)
        while where is None and keypath:
            keypath = keypath[:-1]
            where = self.pos.get(keypath)
        line, col = where or (1, 1)
        self.problems.append(Problem(self.path, line, col, message, hint))

    def line_of(self, keypath: tuple) -> int:
        where = self.pos.get(keypath)
        while where is None and keypath:
            keypath = keypath[:-1]
            where = self.pos.get(keypath)
        return where[0] if where else 1

    def keys(self, mapping: dict, known: set[str], keypath: tuple, what: str) -> None:
        """Unknown keys are kept; ones close to a known key are probably typos."""
        for key in mapping:
            if not isinstance(key, str):
                self.add(keypath, f"{what}: keys must be text, got {key!r}")
                continue
            if key in known:
                continue
            close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.8)
            if close:
                self.add(keypath + (key,), f"unknown key '{key}' in {what}", f"did you mean '{close[0]}'?")


def _safe_id(value: str) -> bool:
    """Usable as one path component: no separators, no '..', not hidden, not empty."""
    return bool(value.strip()) and "/" not in value and "\\" not in value and ".." not in value \
        and not value.startswith(".")


def _cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A dependency cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}
    for start in graph:
        if state.get(start):
            continue
        path, stack = [], [(start, iter(graph.get(start, [])))]
        state[start] = 1
        path.append(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif child not in graph:
                continue
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(graph.get(child, []))))
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _seconds(value: Any) -> bool:
    return value is None or (_number(value) and value > 0)


def load_plan(path: Path | str | None = None) -> Plan:
    """Load and validate; raise PlanInvalid listing every problem with file:line:column."""
    plan, problems = check_plan(path)
    if problems:
        raise PlanInvalid(problems)
    return plan


def check_plan(path: Path | str | None = None) -> tuple[Plan | None, list[Problem]]:
    path = Path(path) if path else find_plan()
    if path.is_dir():
        path = path / "research" / PLAN_FILE if (path / "research" / PLAN_FILE).is_file() else path / PLAN_FILE
    if not path.is_file():
        raise ExpkitError(f"plan file not found: {path}", "pass the path to research_plan.yaml")
    from expkit.yamlfile import YamlError, load_yaml_node

    try:  # duplicate keys (both lines), alias bombs, oversized or binary files: refused before anything is built
        node, raw = load_yaml_node(path, source=str(path))
    except YamlError as exc:
        syntax = exc.problem != exc.message  # a syntax error carries the parser's message without the file name
        message = f"YAML syntax error: {exc.problem}" if syntax else exc.message.removeprefix(f"{path}: ")
        return None, [Problem(path, exc.line or 1, 1, message, exc.hint)]
    text = path.read_text(encoding="utf-8", errors="replace")
    chk = _Checker(path, positions(node) if node is not None else {})
    if not isinstance(raw, dict):
        chk.add((), "the plan must be a mapping with `project:` and `experiments:`",
                "start from the example in references/handler-patterns.md or `expkit plan new EXP_ID`")
        return None, chk.problems
    chk.keys(raw, TOP_KEYS, (), "the plan")
    exps_raw = raw.get("experiments")
    if exps_raw is None:
        exps_raw = {}
        if "experiments" not in raw:
            chk.add((), "the plan has no `experiments:` mapping", "add `experiments:` mapping experiment ids to "
                    "their definitions")
    if isinstance(exps_raw, list):
        chk.add(("experiments",), "`experiments` must be a mapping from experiment id to its definition, not a list",
                "write `experiments:` then `  c1-my-claim:` with the fields indented below it", value=True)
        exps_raw = {}
    elif not isinstance(exps_raw, dict):
        chk.add(("experiments",), "`experiments` must be a mapping from experiment id to its definition", value=True)
        exps_raw = {}
    base_seed = raw.get("seed", 0)
    if not isinstance(base_seed, int) or isinstance(base_seed, bool):
        chk.add(("seed",), f"`seed` must be an integer, got {base_seed!r}", value=True)
        base_seed = 0
    if not _seconds(raw.get("timeout")):
        chk.add(("timeout",), "`timeout` must be a positive number of seconds", value=True)
    experiments = {}
    for exp_id, entry in exps_raw.items():
        exp = _experiment(chk, str(exp_id), entry, base_seed, raw.get("timeout"))
        if exp:
            experiments[exp.id] = exp
    for exp in experiments.values():
        for i, dep in enumerate(exp.dependencies):
            if dep not in exps_raw:
                close = difflib.get_close_matches(str(dep), [str(k) for k in exps_raw], n=1, cutoff=0.6)
                chk.add(("experiments", exp.id, "dependencies", i), f"{exp.id} depends on unknown experiment '{dep}'",
                        f"did you mean '{close[0]}'?" if close else "list experiment ids defined under `experiments:`")
    cycle = _cycle({e.id: e.dependencies for e in experiments.values()})
    if cycle:
        chk.add(("experiments", cycle[0], "dependencies"), f"dependency cycle: {' -> '.join(cycle)}",
                "remove one of these dependencies: experiments in a cycle could never run", value=True)
    gates = raw.get("gates") or {}
    if not isinstance(gates, dict):
        chk.add(("gates",), "`gates` must be a mapping from gate id to {name, experiments, unlocks}", value=True)
        gates = {}
    for gate_id, gate in gates.items():
        kp = ("gates", gate_id)
        if not isinstance(gate, dict):
            chk.add(kp, f"gate '{gate_id}' must be a mapping with name, experiments, unlocks", value=True)
            continue
        chk.keys(gate, GATE_KEYS, kp, f"gate '{gate_id}'")
        members = gate.get("experiments") or []
        if not isinstance(members, list):
            chk.add(kp + ("experiments",), f"gate '{gate_id}': `experiments` must be a list of experiment ids",
                    value=True)
            continue
        for i, member in enumerate(members):
            if member not in exps_raw:
                close = difflib.get_close_matches(str(member), [str(k) for k in exps_raw], n=1, cutoff=0.6)
                chk.add(kp + ("experiments", i), f"gate '{gate_id}' names unknown experiment '{member}'",
                        f"did you mean '{close[0]}'?" if close else "list experiment ids defined under `experiments:`")
    if chk.problems:
        return None, chk.problems
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Plan(path=path.resolve(), raw=raw, experiments=experiments, gates=gates, sha256=sha), []


def _experiment(chk: _Checker, exp_id: str, entry: Any, base_seed: int, default_timeout) -> Experiment | None:
    kp = ("experiments", exp_id)
    if not isinstance(entry, dict):
        chk.add(kp, f"experiment '{exp_id}' must be a mapping (name, sub_experiments, success_criteria ...)",
                value=True)
        return None
    chk.keys(entry, EXPERIMENT_KEYS, kp, f"experiment '{exp_id}'")
    if not _safe_id(exp_id):
        chk.add(kp, f"experiment id '{exp_id}' cannot be used as a folder name (no '/', '\\', '..' or leading '.')",
                "use letters, digits, '-' and '_'")
    status = entry.get("status")
    if status is not None and status not in STATUSES:  # free text is allowed; a near-miss is a typo
        close = difflib.get_close_matches(str(status), STATUSES, n=1, cutoff=0.8)
        if close:
            chk.add(kp + ("status",), f"unknown status '{status}'", f"did you mean '{close[0]}'?", value=True)
    subs: list[SubExperiment] = []
    raw_subs = entry.get("sub_experiments") or []
    if not isinstance(raw_subs, list):
        chk.add(kp + ("sub_experiments",), "`sub_experiments` must be a list of ids, like [e1_1, e1_2]", value=True)
        raw_subs = []
    for i, item in enumerate(raw_subs):
        sp = kp + ("sub_experiments", i)
        if isinstance(item, (str, int)) and not isinstance(item, bool):
            subs.append(SubExperiment(str(item)))
        elif isinstance(item, dict) and "id" in item:
            chk.keys(item, SUB_KEYS, sp, f"sub-experiment '{item['id']}'")
            deps = item.get("depends_on") or []
            deps = [deps] if isinstance(deps, str) else deps
            if not isinstance(deps, list):
                chk.add(sp + ("depends_on",), "`depends_on` must be a list of sub-experiment ids", value=True)
                deps = []
            if not _seconds(item.get("timeout")):
                chk.add(sp + ("timeout",), "`timeout` must be a positive number of seconds", value=True)
            subs.append(SubExperiment(str(item["id"]), item.get("timeout"), [str(d) for d in deps]))
        else:
            chk.add(sp, "a sub-experiment is an id (e1_1) or a mapping {id: e1_1, timeout: 600, depends_on: [..]}",
                    value=True)
    ids = [s.id for s in subs]
    where = [i for i, item in enumerate(raw_subs) if (isinstance(item, (str, int)) and not isinstance(item, bool))
             or (isinstance(item, dict) and "id" in item)]  # the list position of each parsed sub-experiment
    for i, sub in enumerate(subs):
        sp = kp + ("sub_experiments", where[i])
        if not _safe_id(sub.id):
            chk.add(sp, f"sub-experiment id '{sub.id}' cannot be used in a run or artifact name (no '/', '\\', "
                    "'..' or leading '.')", "use letters, digits, '-' and '_' (e1_1)", value=True)
        if ids.count(sub.id) > 1 and ids.index(sub.id) != i:
            first = chk.line_of(kp + ("sub_experiments", where[ids.index(sub.id)]))
            chk.add(sp, f"sub-experiment '{sub.id}' is listed twice (lines {first} and "
                    f"{chk.line_of(sp)})", "keep one of them, or give the second its own id")
        for dep in sub.depends_on:
            if dep not in ids[:i]:
                chk.add(sp, f"'{sub.id}' depends on '{dep}', which is not listed before it",
                        f"list '{dep}' earlier in sub_experiments")
    criteria: list[Criterion] = []
    raw_crit = entry.get("success_criteria") or {}
    if isinstance(raw_crit, list):
        chk.add(kp + ("success_criteria",), "`success_criteria` must be a mapping from metric name to thresholds",
                "write `lpips: {target: 0.25, acceptable: 0.35, failure: 0.45, direction: lower}`")
        raw_crit = {}
    elif not isinstance(raw_crit, dict):
        chk.add(kp + ("success_criteria",), "`success_criteria` must be a mapping from metric name to thresholds",
                value=True)
        raw_crit = {}
    for metric, spec in raw_crit.items():
        crit = _criterion(chk, kp + ("success_criteria", metric), str(metric), spec, ids)
        if crit:
            criteria.append(crit)
    deps = entry.get("dependencies") or []
    if isinstance(deps, str):
        deps = [deps]
    if not isinstance(deps, list):
        chk.add(kp + ("dependencies",), "`dependencies` must be a list of experiment ids", value=True)
        deps = []
    seeds_raw = entry.get("seeds", 1)
    seed0 = entry.get("seed", base_seed)
    if not isinstance(seed0, int) or isinstance(seed0, bool):
        chk.add(kp + ("seed",), "`seed` must be an integer", value=True)
        seed0 = 0
    if isinstance(seeds_raw, int) and not isinstance(seeds_raw, bool) and seeds_raw >= 1:
        seeds = [seed0 + i for i in range(seeds_raw)]
    elif isinstance(seeds_raw, list) and seeds_raw and all(isinstance(s, int) and not isinstance(s, bool)
                                                          for s in seeds_raw):
        seeds = list(seeds_raw)
    else:
        chk.add(kp + ("seeds",), "`seeds` must be a count (3) or a list of integer seeds ([0, 1, 2])", value=True)
        seeds = [seed0]
    timeout = entry.get("timeout", default_timeout)
    if not _seconds(timeout):
        chk.add(kp + ("timeout",), "`timeout` must be a positive number of seconds", value=True)
        timeout = None
    if entry.get("handlers") is not None and not isinstance(entry.get("handlers"), str):
        chk.add(kp + ("handlers",), "`handlers` must be a module path like `handlers.c1`", value=True)
    for sub in subs:
        sub.timeout = sub.timeout or timeout
    return Experiment(id=exp_id, raw=entry, subs=subs, criteria=criteria, dependencies=[str(d) for d in deps],
                      seeds=seeds, timeout=timeout)


def _criterion(chk: _Checker, kp: tuple, metric: str, spec: Any, sub_ids: list[str]) -> Criterion | None:
    if not isinstance(spec, dict):
        chk.add(kp, f"criterion '{metric}' must be a mapping {{target, acceptable, failure, direction}}", value=True)
        return None
    chk.keys(spec, CRITERION_KEYS, kp, f"criterion '{metric}'")
    values = {}
    for key in ("target", "acceptable", "failure"):
        if spec.get(key) is not None and not _number(spec[key]):
            chk.add(kp + (key,), f"criterion '{metric}': `{key}` must be a number, got {spec[key]!r}", value=True)
            return None
        values[key] = float(spec[key]) if spec.get(key) is not None else None
    target, acceptable, failure = values["target"], values["acceptable"], values["failure"]
    if target is None:
        chk.add(kp, f"criterion '{metric}' has no `target`", "add `target: <value you hope for>`")
        return None
    acceptable = target if acceptable is None else acceptable
    direction = spec.get("direction")
    if direction is None:
        other = failure if failure is not None else acceptable
        if other == target:
            chk.add(kp, f"criterion '{metric}': cannot tell whether lower or higher is better",
                    "add `direction: lower` or `direction: higher`")
            return None
        direction = "lower" if target < other else "higher"
    elif direction not in ("lower", "higher"):
        chk.add(kp + ("direction",), f"criterion '{metric}': direction must be `lower` or `higher`, got {direction!r}",
                value=True)
        return None
    better = (lambda a, b: a <= b) if direction == "lower" else (lambda a, b: a >= b)
    if not better(target, acceptable) or (failure is not None and not better(acceptable, failure)):
        chk.add(kp, f"criterion '{metric}': thresholds are out of order for direction {direction} "
                    f"(target {target}, acceptable {acceptable}, failure {failure})",
                "for `lower` use target <= acceptable <= failure; for `higher` the reverse")
        return None
    source = spec.get("from")
    if source is not None and str(source) not in sub_ids:
        chk.add(kp + ("from",), f"criterion '{metric}': `from: {source}` is not a sub-experiment of this experiment",
                f"use one of: {', '.join(sub_ids)}", value=True)
        return None
    baseline = spec.get("relative_to")
    if baseline is not None and str(baseline) not in sub_ids:
        chk.add(kp + ("relative_to",), f"criterion '{metric}': `relative_to: {baseline}` is not a sub-experiment of "
                "this experiment", f"use one of: {', '.join(sub_ids)}", value=True)
        return None
    if baseline is not None and source is not None and str(baseline) == str(source):
        chk.add(kp + ("relative_to",), f"criterion '{metric}': `relative_to` and `from` are both {baseline}: the "
                "delta would always be 0", "`from:` is the sub-experiment judged, `relative_to:` its baseline",
                value=True)
        return None
    measure = spec.get("metric")
    if measure is not None and (not isinstance(measure, str) or not measure.strip()):
        chk.add(kp + ("metric",), f"criterion '{metric}': `metric` must be the name of a metric the handlers return",
                value=True)
        return None
    return Criterion(metric, target, acceptable, failure, direction, spec.get("note"),
                     str(source) if source is not None else None,
                     str(baseline) if baseline is not None else None, measure)
