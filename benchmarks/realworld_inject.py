"""Scoreboard of `expkit wandb inject` on the real-world corpus tests/realworld/inject/ (public scripts at pinned
commits, each with an answer key written by reading the script).

Each script is graded against its key:
  correct  injected where the key says so, on the right route, in the right function, with the key's config and
           metrics; or left alone / refused for the reason the key names
  weak     safe (parses, no new undefined names, minimal diff, idempotent) but misses some config, a metric, the
           rank guard, or a no-op without its reason
  wrong    would crash, log nonsense or hurt the user's file: parse error, new undefined name, re-indented lines,
           more than 6 removed lines, a forbidden expression (e.g. `.item()` on a loss module), several
           un-aligned wandb.log calls per step, the wrong config object, changed a script the key says to leave
  refused  no edit where the key says the script is injectable

Targets: 0 wrong, >= 90% injected where injectable, median <= 8 lines added, 0 re-indented.

Answer key (<name>.answer.yaml): source {repo, path, commit, licence}; framework; injectable; route (wandb.init,
report_to, accelerate, lightning-logger, lightningcli, keras-callback, sync-tensorboard); init_in (functions that
may hold the run's start, `<module>` for module level); config (names the config must mention, `a|b` for either);
logs / logs_eval (names that must be logged; eval ones missing make it weak); forbid (text no added line may
contain); rank_guard; one_log_per_step; undivided (the accumulation factor the loss is multiplied back by);
report_to_on (the object, or `Class(` for the call that gets report_to); for injectable: false, expect
(unchanged / refused) and reason (a word the note or refusal must contain); options (inject Options); notes.

    python benchmarks/realworld_inject.py [-v]
"""

from __future__ import annotations

import ast
import difflib
import re
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "realworld" / "inject"
if str(ROOT / "helpers") not in sys.path:
    sys.path.insert(0, str(ROOT / "helpers"))

MAX_REMOVED = 6


@dataclass
class Grade:
    name: str
    outcome: str = "correct"
    problems: list = field(default_factory=list)  # why not correct
    added: int = 0
    removed: int = 0
    reindented: int = 0
    changed: bool = False
    new_source: str = ""

    def wrong(self, why: str) -> None:
        self.outcome = "wrong"
        self.problems.append(why)

    def weak(self, why: str) -> None:
        if self.outcome == "correct":
            self.outcome = "weak"
        self.problems.append(why)


def scripts() -> list[Path]:
    return sorted(p for p in CORPUS.glob("*.py") if p.with_name(p.stem + ".answer.yaml").exists())


def key_of(script: Path) -> dict:
    from expkit.yamlfile import load_yaml

    return load_yaml(script.with_name(script.stem + ".answer.yaml"))


def diff_stats(before: str, after: str) -> tuple[int, int, int]:
    """(added, removed, re-indented): a re-indented line is a removed line that comes back with other indentation."""
    added, removed = [], []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0):
        if line.startswith(("+++", "---", "@@")):
            continue
        if line.startswith("+"):
            added.append(line[1:])
        elif line.startswith("-"):
            removed.append(line[1:])
    stripped_added = {a.strip(): a for a in added if a.strip()}
    reindented = sum(1 for r in removed if r.strip() and r.strip() in stripped_added
                     and stripped_added[r.strip()] != r)
    return len(added), len(removed), reindented


def unexplained_removals(before: str, after: str) -> list[str]:
    """Removed lines that are neither a call line that comes back extended (`f(a)` -> `f(a, x=...)`, also a dict or
    list argument gaining an item) nor the same
    line again (difflib re-pairing, a last line that gains its newline)."""
    added, removed = [], []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0):
        if line.startswith(("+++", "---", "@@")):
            continue
        (added if line.startswith("+") else removed).append(line[1:])
    out = []
    for r in removed:
        stem = r.split("#")[0].rstrip().rstrip(",)]} ")
        if any(a == r or (stem and a.startswith(stem) and len(a) > len(stem)) for a in added):
            continue
        out.append(r)
    return out


def undefined_names(source: str, name: str) -> set[str]:
    from pyflakes import checker, messages

    tree = ast.parse(source, name)
    w = checker.Checker(tree, filename=name)
    return {m.message_args[0] for m in w.messages if isinstance(m, messages.UndefinedName)}


def _enclosing_functions(tree: ast.AST) -> dict:
    """{id(call node): name of its innermost function or '<module>'} plus {id(call): [enclosing nodes]}."""
    out = {}

    def walk(node, func, chain):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                walk(child, child.name, chain + [child])
            else:
                if isinstance(child, ast.Call):
                    out[id(child)] = (func, chain)
                walk(child, func, chain + [child])

    walk(tree, "<module>", [tree])
    return out


def _calls(tree, suffix):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and ast.unparse(n.func).endswith(suffix)]


def _kw(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def _has_name(text: str, name: str) -> bool:
    return any(re.search(r"(?<![\w.])" + re.escape(alt.strip()) + r"(?!\w)", text) for alt in name.split("|"))


def _logged_text(tree) -> str:
    calls = _calls(tree, "wandb.log") + [c for c in _calls(tree, ".log")
                                          if ast.unparse(c.func).startswith(("accelerator.", "fabric."))]
    return "\n".join(ast.unparse(c) for c in calls)


def _is_log(call: ast.Call) -> bool:
    func = ast.unparse(call.func)
    return func == "wandb.log" or (func.endswith(".log") and func.split(".")[0] in ("accelerator", "fabric"))


def _logs_per_step(tree) -> list[str]:
    """Loops and functions whose body (not nested defs or loops) calls wandb.log more than once without
    step=/commit=False: each call is a W&B step of its own, so metrics of one iteration never line up."""
    bad = []
    scopes = [n for n in ast.walk(tree) if isinstance(n, (ast.For, ast.While, ast.FunctionDef, ast.AsyncFunctionDef))]
    for loop in scopes:
        found = []

        def visit(node):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.For, ast.While, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    continue
                if isinstance(child, ast.Call) and _is_log(child):
                    found.append(child)
                visit(child)

        for stmt in loop.body:
            if not isinstance(stmt, (ast.For, ast.While, ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(stmt)
        if len(found) > 1:
            explicit = [c for c in found if _kw(c, "step") is not None]
            deferred = [c for c in found if "'commit': False" in ast.unparse(c) or "commit=False" in ast.unparse(c)]
            if not explicit and len(deferred) < len(found) - 1:
                bad.append(f"line {loop.lineno}: {len(found)} wandb.log calls per iteration/call")
    return bad


def grade(script: Path, key: dict | None = None) -> Grade:
    from expkit.inject import CannotInject, Options, inject_source

    key = key or key_of(script)
    g = Grade(script.stem)
    source = script.read_text(encoding="utf-8")
    opts = Options(**(key.get("options") or {}))
    try:
        result = inject_source(source, opts, str(script))
    except CannotInject as exc:
        text = f"{exc.message} {exc.hint}"
        if key.get("expect") == "refused":
            if key.get("reason") and key["reason"].lower() not in text.lower():
                g.weak(f"refused without naming {key['reason']!r}: {text}")
        elif key["injectable"]:
            g.outcome = "refused"
            g.problems.append(text)
        else:
            g.weak(f"refused, key expects {key.get('expect')}: {text}")
        return g
    g.changed = result.changed
    g.new_source = result.new_source
    explained = " ".join(result.notes + result.warnings).lower()
    if not key["injectable"]:
        if result.changed:
            g.wrong(f"changed a script the key says to leave ({key.get('reason')})")
        elif key.get("reason") == "already" and not result.existing:
            g.weak("no existing_wandb lines reported")
        elif key.get("reason") and key["reason"] != "already" and key["reason"].lower() not in explained:
            g.weak(f"left unchanged without saying why ({key['reason']!r} not in notes)")
        elif key.get("expect") == "refused":
            g.weak("left unchanged where the key expects a refusal with the reason")
        return g
    if not result.changed:
        g.outcome = "refused"
        g.problems.append("nothing changed: " + explained)
        return g
    _check_changed(g, key, source, result, script, opts)
    return g


def _check_changed(g: Grade, key: dict, source: str, result, script: Path, opts) -> None:
    from expkit.inject import inject_source

    new = result.new_source
    try:
        tree = ast.parse(new)
    except SyntaxError as exc:
        g.wrong(f"does not parse: {exc}")
        return
    g.added, g.removed, g.reindented = diff_stats(source, new)
    if g.reindented:
        g.wrong(f"{g.reindented} re-indented lines")
    if g.removed > MAX_REMOVED:
        g.wrong(f"{g.removed} lines removed (max {MAX_REMOVED})")
    for line in unexplained_removals(source, new):
        g.wrong(f"removed a line that is not a call gaining an argument: {line.strip()!r}")
    new_undefined = undefined_names(new, script.name) - undefined_names(source, script.name)
    if new_undefined:
        g.wrong(f"new undefined names: {sorted(new_undefined)}")
    again = inject_source(new, opts, str(script))
    if again.changed:
        g.wrong("not idempotent: a second inject changes the file again")
    added_text = "\n".join(ln[1:] for ln in difflib.unified_diff(source.splitlines(), new.splitlines(), lineterm="", n=0)
                           if ln.startswith("+") and not ln.startswith("+++"))
    for bad in key.get("forbid") or []:
        if bad in added_text:
            g.wrong(f"adds {bad!r}")
    for bad in _logs_per_step(tree):
        g.wrong(bad)
    route = key.get("route")
    where = _enclosing_functions(tree)
    if route == "report_to":
        _check_report_to(g, key, tree, added_text)
        return
    if route in ("lightning-logger", "lightningcli"):
        if "WandbLogger" not in added_text:
            g.wrong("no WandbLogger added")
        return
    if route == "accelerate":
        inits = _calls(tree, ".init_trackers")
        if "wandb" not in added_text:
            g.wrong("log_with does not gain wandb")
    else:
        inits = _calls(tree, "wandb.init")
        if not inits:
            g.wrong("no wandb.init")
            return
        if route == "keras-callback" and "WandbMetricsLogger" not in added_text:
            g.wrong("no WandbMetricsLogger in fit")
        if route == "sync-tensorboard" and not any(_kw(c, "sync_tensorboard") for c in inits):
            g.wrong("wandb.init without sync_tensorboard=True")
    if not inits:
        g.weak("no run started")
        return
    init = inits[0]
    func, chain = where.get(id(init), ("?", []))
    if key.get("init_in") and func not in key["init_in"]:
        g.wrong(f"run starts in {func}, key says {key['init_in']}")
    cfg = _kw(init, "config")
    if cfg is None and len(init.args) > 1:
        cfg = init.args[1]
    cfg_text = ast.unparse(cfg) if cfg is not None else ""
    for name in key.get("config") or []:
        if not _has_name(cfg_text, name):
            g.weak(f"config lacks {name}")
    guards = [n for n in chain if isinstance(n, ast.If)]
    if key.get("rank_guard") and not guards and route != "accelerate":
        g.weak("wandb.init not guarded by the main-process check")
    if re.search(r"\bspawn\(", source) and any('environ.get("RANK"' in ast.unparse(n.test).replace("'", '"')
                                               for n in guards):
        g.wrong("mp.spawn sets no RANK variable: every worker would start a run")
    logged = _logged_text(tree)
    for name in key.get("logs") or []:
        if not _has_name(logged, name):
            g.weak(f"does not log {name}")
    for name in key.get("logs_eval") or []:
        if not _has_name(logged, name):
            g.weak(f"does not log eval metric {name}")
    if key.get("undivided") and key["undivided"] not in logged and "undivided" not in logged:
        g.weak("logs the loss divided by the accumulation steps")


def _check_report_to(g: Grade, key: dict, tree, added_text: str) -> None:
    target = key["report_to_on"]
    if target.endswith("("):
        ok = any("wandb" in ast.unparse(_kw(c, "report_to") or ast.Constant(""))
                 for c in _calls(tree, target[:-1]))
        if not ok:
            g.wrong(f"report_to of {target}...) does not include wandb")
    elif not re.search(rf"\b{re.escape(target)}\.report_to\b", added_text):
        g.wrong(f"report_to not set on {target}")
    for other in ("data_args", "model_args", "script_args", "training_args"):
        if other != target and re.search(rf"\b{other}\.report_to\b", added_text):
            g.wrong(f"report_to set on {other}")


def scoreboard(grades: list[Grade], keys: dict) -> dict:
    counts = {k: sum(1 for g in grades if g.outcome == k) for k in ("correct", "weak", "wrong", "refused")}
    injectable = [g for g in grades if keys[g.name]["injectable"]]
    changed = [g for g in grades if g.changed]
    added = [g.added for g in changed] or [0]
    removed = [g.removed for g in changed] or [0]
    return {**counts, "scripts": len(grades), "injectable": len(injectable),
            "injected": sum(1 for g in injectable if g.changed),
            "injected_pct": 100.0 * sum(1 for g in injectable if g.changed) / max(1, len(injectable)),
            "added_median": statistics.median(added), "added_max": max(added),
            "removed_median": statistics.median(removed), "removed_max": max(removed),
            "reindented": sum(g.reindented for g in grades)}


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    grades, keys = [], {}
    for script in scripts():
        keys[script.stem] = key_of(script)
        g = grade(script, keys[script.stem])
        grades.append(g)
        if verbose or g.outcome != "correct":
            print(f"{g.outcome:8} {g.name:28} +{g.added} -{g.removed}  {'; '.join(g.problems)}")
    s = scoreboard(grades, keys)
    print()
    print(f"scripts: {s['scripts']}   correct: {s['correct']}   weak: {s['weak']}   wrong: {s['wrong']}   "
          f"refused: {s['refused']}")
    print(f"injected where the key says injectable: {s['injected']}/{s['injectable']} ({s['injected_pct']:.0f}%, "
          f"target >= 90%)")
    print(f"lines added: median {s['added_median']}, max {s['added_max']} (target median <= 8)   "
          f"lines removed: median {s['removed_median']}, max {s['removed_max']} (max {MAX_REMOVED})   "
          f"re-indented: {s['reindented']} (target 0)")
    ok = s["wrong"] == 0 and s["injected_pct"] >= 90 and s["added_median"] <= 8 and s["reindented"] == 0
    print("targets:", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
