"""The sweep spec: expkit's own YAML or a W&B sweep config as it is, and the export back to W&B's format.

Both formats share W&B's keys (method, metric, parameters, run_cap, early_terminate, program, command), so a
W&B sweep.yaml runs unchanged. expkit adds:

    name: lr-sweep                  # the sweep's group (default: the file's stem)
    seed: 0                         # random sampling seed (default 0)
    max_trials: 20                  # same as run_cap
    fixed: {epochs: 3}              # constants (W&B writes them as {value: 3})
    command: python train.py --lr ${lr} --bs ${batch_size}   # a template: ${param} is substituted
    args: flags | hydra | none      # how parameters missing from the template are appended:
                                    #   --key=value (default), key=value (Hydra overrides), or not at all
    retries: 1                      # extra attempts for a failed trial (with backoff)
    backoff_s: 30                   # first retry delay, doubled each time
    oom: {param: batch_size, factor: 0.5}   # an OOM is retried once, with this parameter scaled down
    stop_after_same_failures: 3     # stop the sweep when the first N finished trials all fail the same way
    env: {WANDB_MODE: offline}      # environment variables of every trial

Every W&B key is honoured or refused by name: `controller` (expkit is the controller), `apiVersion` and
`kind: sweep` are accepted; `metric.target` stops the sweep once a trial reaches it; `early_terminate.strict`
judges hyperband on the value at the bracket; W&B Launch (`job`, `image_uri`), custom engines (`scheduler`,
`method: custom`), multi-objective `metrics` and bayes imputation (`metric.impute*`) are refused with the reason.

A W&B `command` list uses the macros ${env} ${interpreter} ${program} ${args} ${args_no_hyphens}
${args_json} ${args_json_file} ${args_no_boolean_flags} ${args_no_equals} ${args_append_hydra}
${args_override_hydra} ${envvar:NAME}, expanded as W&B's agent expands them (no ${args...} macro: no parameter
on the command line); without `command`, W&B's default [${env}, ${interpreter}, ${program}, ${args}] applies.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expkit.errors import ExpkitError
from expkit.sweeps.sample import Param, parse_param

METHODS = ("grid", "random", "bayes")
WANDB_MACROS = ("${env}", "${interpreter}", "${program}", "${args}", "${args_no_hyphens}", "${args_json}",
                "${args_no_boolean_flags}", "${args_no_equals}", "${args_append_hydra}", "${args_override_hydra}",
                "${args_json_file}")
ARGS_JSON_FILE = "${args_json_file}"  # stays in the stored command; each launch puts the trial's file there
WANDB_DEFAULT_COMMAND = ["${env}", "${interpreter}", "${program}", "${args}"]
TOP_KEYS = {"name", "description", "method", "metric", "parameters", "run_cap", "max_trials", "early_terminate",
            "program", "command", "entity", "project", "seed", "fixed", "args", "retries", "backoff_s", "oom",
            "stop_after_same_failures", "controller", "apiVersion", "kind", "env"}
# W&B sweep keys expkit cannot honour, and why (refused by name rather than silently ignored)
REFUSED_KEYS = {
    "job": ("it names a W&B Launch job", "expkit runs a command here or on a cluster: give command: or program:"),
    "image_uri": ("it names a W&B Launch image", "expkit runs a command in the project's environment: give command:"),
    "scheduler": ("custom W&B scheduler engines (optuna, ax) are not run by expkit",
                  "use method: bayes (optuna's TPE) and remove scheduler:"),
    "metrics": ("multi-objective sweeps are not supported", "optimise one metric: {name: ..., goal: ...}"),
}
METRIC_KEYS = {"name", "goal", "target"}
REFUSED_METRIC_KEYS = {
    "impute": "expkit's bayes search leaves failed trials out instead of imputing a value: remove metric.impute",
    "impute_while_running": "expkit's bayes search only learns from finished trials: remove "
                            "metric.impute_while_running",
}
HYPERBAND_KEYS = {"type", "min_iter", "max_iter", "s", "eta", "strict"}
MEDIAN_KEYS = {"type", "min_trials", "warmup"}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_+][A-Za-z0-9_.+-]*)\}")
_ENVVAR = re.compile(r"\$\{envvar:([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class SweepSpec:
    name: str
    method: str
    params: list[Param]
    metric: dict[str, Any] | None = None  # {name, goal: minimize|maximize}
    run_cap: int | None = None
    seed: int = 0
    early_terminate: dict[str, Any] | None = None
    program: str | None = None
    command: list[str] | None = None  # a W&B macro list, or a template split into argv items
    args_style: str = "flags"
    retries: int = 0
    backoff_s: float = 30.0
    oom: dict[str, Any] | None = None
    stop_after_same_failures: int = 3
    project: str | None = None
    entity: str | None = None
    description: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # W&B keys accepted with a caveat worth telling the user
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def goal(self) -> str:
        return (self.metric or {}).get("goal", "minimize")

    @property
    def metric_name(self) -> str | None:
        return (self.metric or {}).get("name")

    @property
    def swept(self) -> list[Param]:
        return [p for p in self.params if not p.is_constant]

    def fingerprint(self) -> str:
        """Changes when anything that decides the trials changes (not the retry policy)."""
        keep = {k: v for k, v in self.raw.items() if k not in ("retries", "backoff_s", "stop_after_same_failures",
                                                               "description", "env")}
        return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_spec(path: str | Path) -> SweepSpec:
    path = Path(path)
    if not path.is_file():
        raise ExpkitError(f"sweep spec not found: {path}", "give the path of a sweep YAML (yours or a W&B sweep.yaml)")
    from expkit.yamlfile import YamlError, load_yaml

    try:
        raw = load_yaml(path)
    except YamlError as exc:
        hint = exc.hint
        if exc.line and "${" in path.read_text(encoding="utf-8", errors="replace"):
            hint = ("fix the YAML at that line (a ${...} inside [ ] needs quotes, or write the list one item per "
                    "line with -)")
        raise ExpkitError(str(exc), hint) from None
    return parse_spec(raw, default_name=path.stem)


def parse_spec(raw: Any, default_name: str = "sweep") -> SweepSpec:
    if not isinstance(raw, dict):
        raise ExpkitError("a sweep spec must be a mapping (method:, parameters:, command: ...)",
                          "see `expkit sweep run --help` for an example spec")
    for key, (why, hint) in REFUSED_KEYS.items():
        if key in raw:
            raise ExpkitError(f"the sweep spec's '{key}' key is not supported: {why}", hint)
    unknown = {str(k) for k in raw} - TOP_KEYS
    if unknown:
        import difflib

        hints = [f"{k} -> {m[0]}" for k in sorted(unknown) if (m := difflib.get_close_matches(k, TOP_KEYS, n=1))]
        raise ExpkitError(f"unknown key(s) in the sweep spec: {', '.join(sorted(unknown))}",
                          ("did you mean: " + ", ".join(hints)) if hints else f"known keys: {', '.join(sorted(TOP_KEYS))}")
    notes: list[str] = []
    if raw.get("kind", "sweep") != "sweep":
        raise ExpkitError(f"kind: {raw.get('kind')!r} is not a sweep", "W&B's sweep files say kind: sweep (or omit it)")
    controller = raw.get("controller")
    if controller is not None:
        if not isinstance(controller, dict) or controller.get("type", "cloud") not in ("local", "cloud"):
            raise ExpkitError("controller must be {type: local} or {type: cloud}", "or remove it")
        notes.append(f"controller: {controller.get('type', 'cloud')}: expkit is the sweep's controller; trials are "
                     "scheduled here, not by a W&B controller")
    method = raw.get("method", "grid")
    if method == "custom":
        raise ExpkitError("method: custom (a W&B scheduler engine) is not supported",
                          "use method: grid, random or bayes")
    if method not in METHODS:
        raise ExpkitError(f"unknown sweep method '{method}'", f"use one of: {', '.join(METHODS)}")
    params_raw = raw.get("parameters") or {}
    if not isinstance(params_raw, dict) or (not params_raw and not raw.get("fixed")):
        raise ExpkitError("the sweep spec has no parameters", "add parameters: {lr: {values: [0.1, 0.01]}}")
    params = [parse_param(str(k), v) for k, v in params_raw.items()]
    for p in params:
        if p.distribution in ("log_uniform", "q_log_uniform") and 0 <= p.get("min") < p.get("max") <= 1:
            lo, hi = p.bounds()
            notes.append(f"parameter '{p.name}': {p.distribution} takes exponents, so values are drawn from "
                         f"e^{p.get('min'):g}..e^{p.get('max'):g} = {lo:.4g}..{hi:.4g}; for {p.get('min'):g}.."
                         f"{p.get('max'):g} write distribution: {p.distribution}_values")
    for k, v in (raw.get("fixed") or {}).items():
        if any(p.name == k for p in params):
            raise ExpkitError(f"'{k}' is both swept and fixed", "keep it in one of parameters: or fixed:")
        params.append(parse_param(str(k), {"value": v}))
    metric = raw.get("metric")
    if metric is not None:
        if isinstance(metric, str):
            metric = {"name": metric}
        if not isinstance(metric, dict) or not metric.get("name"):
            raise ExpkitError("metric needs a name", "write metric: {name: val_loss, goal: minimize}")
        for key, why in REFUSED_METRIC_KEYS.items():
            if key in metric:
                raise ExpkitError(f"metric.{key} is not supported", why)
        odd = sorted(set(metric) - METRIC_KEYS)
        if odd:
            raise ExpkitError(f"unknown key(s) in metric: {', '.join(odd)}", "metric takes name, goal and target")
        target = metric.get("target")
        if target is not None and (isinstance(target, bool) or not isinstance(target, (int, float))
                                   or not math.isfinite(target)):
            raise ExpkitError(f"metric.target must be a number, got {target!r}",
                              "the sweep stops starting trials once one reaches it, e.g. target: 0.95")
        goal = {"min": "minimize", "max": "maximize"}.get(metric.get("goal", "minimize"), metric.get("goal"))
        if goal not in ("minimize", "maximize"):
            raise ExpkitError(f"metric goal must be minimize or maximize, got {metric.get('goal')!r}",
                              "write goal: minimize (or min) / maximize (or max)")
        metric = {**metric, "goal": goal}
    run_cap = raw.get("max_trials", raw.get("run_cap"))
    if run_cap is not None and (not isinstance(run_cap, int) or isinstance(run_cap, bool) or run_cap < 1):
        raise ExpkitError(f"max_trials/run_cap must be a positive integer, got {run_cap!r}", "write max_trials: 20")
    if method in ("random", "bayes") and run_cap is None:
        raise ExpkitError(f"a {method} sweep needs max_trials (or W&B's run_cap)",
                          "add max_trials: 20 (a W&B agent would sample forever; an unattended night needs an end)")
    if method == "bayes" and not metric:
        raise ExpkitError("a bayes sweep needs a metric to optimise", "add metric: {name: val_loss, goal: minimize}")
    et = raw.get("early_terminate")
    if et is not None:
        et = _parse_early(et, metric)
    command = raw.get("command")
    program = raw.get("program")
    if command is None:
        if not program:
            raise ExpkitError("the sweep spec has no command or program",
                              "add command: python train.py --lr ${lr}  (or W&B's program: train.py)")
        command = list(WANDB_DEFAULT_COMMAND)
    elif isinstance(command, str):
        command = shlex.split(command)
    elif not (isinstance(command, list) and command and all(isinstance(c, (str, int, float)) for c in command)):
        raise ExpkitError("command must be a string or a list of strings", "write command: python train.py --lr ${lr}")
    command = [str(c) for c in command]
    if "${program}" in command and not program:
        raise ExpkitError("the command uses ${program} but the spec has no program", "add program: train.py")
    args_style = raw.get("args", "flags")
    if args_style not in ("flags", "hydra", "none"):
        raise ExpkitError(f"args must be flags, hydra or none, got {args_style!r}",
                          "flags appends --key=value, hydra appends key=value, none appends nothing")
    names = {p.name for p in params}
    for item in command:
        for ph in _PLACEHOLDER.findall(item):
            if f"${{{ph}}}" not in WANDB_MACROS and ph not in names and not ph.startswith("envvar"):
                raise ExpkitError(f"the command uses ${{{ph}}} but no parameter is called '{ph}'",
                                  f"parameters: {', '.join(sorted(names))}")
    oom = raw.get("oom")
    if oom is not None and (not isinstance(oom, dict) or oom.get("param") not in names):
        raise ExpkitError("oom.param must name a parameter of the sweep", "write oom: {param: batch_size, factor: 0.5}")
    try:
        retries = int(raw.get("retries", 0))
        backoff = float(raw.get("backoff_s", 30))
        same = int(raw.get("stop_after_same_failures", 3))
        seed = int(raw.get("seed", 0))
    except (TypeError, ValueError) as exc:
        raise ExpkitError(f"bad number in the sweep spec: {exc}", "retries, backoff_s, seed are numbers") from None
    env = raw.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(k, str) and _ENV_NAME.match(k) for k in env) or any(
            isinstance(v, (dict, list)) for v in env.values()):
        raise ExpkitError("env must map variable names to values", "write env: {WANDB_MODE: offline, OMP_NUM_THREADS: 4}")
    env = {k: ("" if v is None else str(v).lower() if isinstance(v, bool) else str(v)) for k, v in env.items()}
    name = str(raw.get("name") or default_name)
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", name):
        raise ExpkitError(f"sweep name {name!r} has characters a folder name cannot", "use letters, digits, . _ -")
    return SweepSpec(name=name, method=method, params=params, metric=metric, run_cap=run_cap, seed=seed,
                     early_terminate=et, program=program, command=command, args_style=args_style, retries=retries,
                     backoff_s=backoff, oom=oom, stop_after_same_failures=same, project=raw.get("project"),
                     entity=raw.get("entity"), description=raw.get("description"), env=env, notes=notes, raw=raw)


def _parse_early(et: Any, metric: dict | None) -> dict[str, Any]:
    if not isinstance(et, dict) or et.get("type") not in ("hyperband", "median"):
        raise ExpkitError("early_terminate needs type: hyperband or median",
                          "e.g. early_terminate: {type: hyperband, min_iter: 3, eta: 3}")
    if not metric:
        raise ExpkitError("early termination needs a metric", "add metric: {name: val_loss, goal: minimize}")
    allowed = HYPERBAND_KEYS if et["type"] == "hyperband" else MEDIAN_KEYS
    odd = sorted(set(et) - allowed)
    if odd:
        raise ExpkitError(f"unknown key(s) in early_terminate ({et['type']}): {', '.join(odd)}",
                          f"{et['type']} takes {', '.join(sorted(allowed))}")
    for key in ("min_iter", "max_iter", "s", "min_trials", "warmup"):
        v = et.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ExpkitError(f"early_terminate.{key} must be a positive integer, got {v!r}", f"e.g. {key}: 3")
    if "strict" in et and not isinstance(et["strict"], bool):
        raise ExpkitError("early_terminate.strict must be true or false", "strict: true judges the value at each bracket")
    et = dict(et)
    if et["type"] == "hyperband":
        if not et.get("min_iter") and not et.get("max_iter"):
            raise ExpkitError("hyperband needs min_iter or max_iter", "e.g. {type: hyperband, min_iter: 3}")
        eta = et.setdefault("eta", 3)
        if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not math.isfinite(eta) or eta <= 1:
            raise ExpkitError("hyperband eta must be > 1", "the usual value is 3")
    else:
        et.setdefault("min_trials", 3)
        et.setdefault("warmup", 1)
    return et


def hyperband_brackets(et: dict[str, Any]) -> list[int]:
    """The steps at which hyperband compares runs (W&B: min_iter * eta^k, or max_iter / eta^k)."""
    eta = et.get("eta", 3)
    if et.get("min_iter"):
        s = int(et.get("s", 3))
        return [int(round(et["min_iter"] * eta ** k)) for k in range(s)]
    s = int(et.get("s", 3))
    return sorted({max(1, int(et["max_iter"] / eta ** k)) for k in range(1, s + 1)})


def _fmt(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def interpreter() -> str:
    return shutil.which("python") or shutil.which("python3") or sys.executable


def wandb_command(spec: SweepSpec) -> bool:
    """A command in W&B's list form (it uses W&B's macros): the parameters go where its ${args...} macro says, and
    nowhere when it has none, exactly as W&B's agent runs it (the trial reads them from wandb.config)."""
    if any(m in spec.command for m in WANDB_MACROS if m.startswith("${args")):
        return True  # also W&B's default command (no command: key), which ends in ${args}
    return isinstance(spec.raw.get("command"), list) and any(m in spec.command for m in WANDB_MACROS)


def build_argv(spec: SweepSpec, params: dict[str, Any]) -> list[str]:
    """The trial's command: W&B macros expanded, ${param} substituted, the rest appended per `args`."""
    used = {ph for item in spec.command for ph in _PLACEHOLDER.findall(item) if ph in params}
    wandb_style = wandb_command(spec)
    rest = {k: v for k, v in params.items() if k not in used}
    argv: list[str] = []
    for item in spec.command:
        if item == "${env}":
            argv.append("/usr/bin/env")
        elif item == "${interpreter}":
            argv.append(interpreter())
        elif item == "${program}":
            argv.append(str(spec.program))
        # W&B's own macros format each value as W&B's agent does: Python's str(), e.g. ['a', 'b'] and True
        elif item == "${args}":
            argv += [f"--{k}={v}" for k, v in rest.items()]
        elif item == "${args_no_boolean_flags}":
            argv += [f"--{k}" if v is True else f"--{k}={v}" for k, v in rest.items() if v is not False]
        elif item == "${args_no_hyphens}":
            argv += [f"{k}={v}" for k, v in rest.items()]
        elif item == "${args_no_equals}":
            argv += [x for k, v in rest.items() for x in (f"--{k}", str(v))]
        elif item == "${args_append_hydra}":
            argv += [f"+{k}={v}" for k, v in rest.items()]
        elif item == "${args_override_hydra}":
            argv += [f"++{k}={v}" for k, v in rest.items()]
        elif item == "${args_json}":
            argv.append(json.dumps(rest))
        elif item == ARGS_JSON_FILE:
            argv.append(item)
        else:
            item = _ENVVAR.sub(lambda m: {**os.environ, **spec.env}.get(m.group(1), ""), item)  # W&B's ${envvar:X}
            argv.append(_PLACEHOLDER.sub(lambda m: _fmt(params[m.group(1)]) if m.group(1) in params else m.group(0),
                                         item))
    if not wandb_style and spec.args_style != "none":
        if spec.args_style == "hydra":
            argv += [f"{k}={_fmt(v)}" for k, v in rest.items()]
        else:
            argv += [f"--{k}={_fmt(v)}" for k, v in rest.items()]
    return argv


def to_wandb(spec: SweepSpec) -> tuple[dict[str, Any], list[str]]:
    """The W&B sweep config for `spec`, and notes on what W&B cannot express."""
    notes: list[str] = []
    out: dict[str, Any] = {}
    if spec.program:
        out["program"] = spec.program
    out["name"] = spec.name
    if spec.description:
        out["description"] = spec.description
    for key in ("entity", "project"):
        if getattr(spec, key):
            out[key] = getattr(spec, key)
    out["method"] = spec.method
    if spec.metric:
        out["metric"] = dict(spec.metric)
    out["parameters"] = {p.name: p.to_wandb() for p in spec.params}
    if spec.run_cap:
        out["run_cap"] = spec.run_cap
    if spec.early_terminate:
        if spec.early_terminate["type"] == "hyperband":
            out["early_terminate"] = {k: v for k, v in spec.early_terminate.items()
                                      if k in ("type", "min_iter", "max_iter", "s", "eta", "strict")}
        else:
            notes.append("W&B has no median stopping rule: early_terminate was left out")
    command = list(spec.command)
    if any(m in command for m in WANDB_MACROS if m.startswith("${args")):
        out["command"] = command
    else:
        kept, hydra, odd = _untemplate(command, spec.args_style == "hydra")
        if odd:
            notes.append(f"W&B's ${{args}} cannot pass parameters the way {' '.join(odd)} does: check the command")
        py = [i for i, c in enumerate(kept) if re.search(r"(^|/)python[\d.]*$", c)]
        if not spec.program and py and py[0] + 1 < len(kept):
            out["program"] = kept[py[0] + 1]
            kept = ["${env}", "${interpreter}", "${program}"] + kept[py[0] + 2:]
        out["command"] = kept + ["${args_no_hyphens}" if hydra else "${args}"]
    dropped = [k for k in ("retries", "oom", "fixed", "seed", "stop_after_same_failures", "env") if k in spec.raw]
    if dropped:
        notes.append(f"expkit-only keys kept as-is where W&B has an equivalent, dropped otherwise: {', '.join(dropped)}"
                     " (fixed parameters became {value: ...})")
    return out, notes


def _untemplate(command: list[str], hydra: bool) -> tuple[list[str], bool, list[str]]:
    """Drop the items that pass a parameter (`--lr ${lr}`, `--lr=${lr}`, `lr=${lr}`); report any other use."""
    kept, odd = [], []
    i = 0
    while i < len(command):
        item, nxt = command[i], command[i + 1] if i + 1 < len(command) else ""
        m = _PLACEHOLDER.fullmatch(nxt)
        if item.startswith("-") and m and item.lstrip("-") == m.group(1):
            i += 2
            continue
        if re.fullmatch(r"--?([A-Za-z0-9_.-]+)=\$\{\1\}", item):
            pass
        elif re.fullmatch(r"\+?([A-Za-z0-9_.-]+)=\$\{\+?\1\}", item):
            hydra = True
        elif _PLACEHOLDER.search(item):
            odd.append(item)
            kept.append(item)
        else:
            kept.append(item)
        i += 1
    return kept, hydra, odd
