"""`expkit plan check`: pre-flight before spending compute. Each line passes or fails with the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from expkit.errors import ExpkitError
from expkit.plan.schema import Plan


def _line(name: str, ok: bool, detail: str, fix: str | None = None) -> dict[str, Any]:
    return {"check": name, "ok": ok, "detail": detail, "fix": None if ok else fix}


def preflight(plan: Plan, exp_id: str, runs_dir: Path | None = None, stub_run: bool = True,
              python: str | None = None) -> list[dict[str, Any]]:
    """`python`: --python; the handlers are imported (and the stub run runs) in the interpreter `plan run` uses."""
    from expkit.plan.execute import probe_handlers, run_experiment, unmet_dependencies
    from expkit.plan.interpreter import choose

    exp = plan.get(exp_id)
    interp = choose(plan, exp, python)
    lines = [_line("plan entry", True, f"{exp_id} read from {plan.path} ({len(exp.subs)} sub-experiments)")]
    if not exp.subs:
        lines.append(_line("sub-experiments", False, "no sub_experiments listed",
                           f"add `sub_experiments: [{exp.prefix.replace('c', 'e', 1)}_1]` to {exp_id}"))
    lines.append(_line("success criteria", bool(exp.criteria),
                       f"{len(exp.criteria)} defined: {', '.join(c.metric for c in exp.criteria)}" if exp.criteria
                       else "no success_criteria: results cannot be judged",
                       f"add `success_criteria: {{metric: {{target: .., acceptable: .., failure: ..}}}}` to {exp_id}"))
    unmet = unmet_dependencies(plan, exp)
    lines.append(_line("dependencies", not unmet,
                       "met" if not unmet else f"not yet proceed/passed: {', '.join(unmet)}",
                       f"run {unmet[0]} first, or pass --force to `expkit plan run`" if unmet else None))
    probe = probe_handlers(plan, exp, runs_dir, python=interp)
    src = probe["source"]
    py = probe["python"]
    lines.insert(0, _line("interpreter", True,
                          f"handlers run in {py['path']} (Python {py.get('version') or '?'}; chosen by {interp.how})"
                          + (f"; warning: {interp.warning}" if interp.warning else "")))
    if not probe.get("ok"):
        err = probe["error"]
        lines.append(_line("handler import", False, f"{src['module']}: {err['type']}: {err['message']}",
                           f"fix {src['location']} (run `{py['path']} -c 'import {src['module']}'` from {plan.root})"))
        registered: list[str] = []
    else:
        registered = probe["handlers"]
        lines.append(_line("handler import", True, f"{src['module']} imports; registers {', '.join(registered) or 'nothing'}"))
    if exp.subs:
        missing = [s for s in exp.sub_ids if s not in registered]
        lines.append(_line("handlers registered", not missing,
                           "every sub-experiment has a handler" if not missing else
                           f"No handler registered for sub-experiment {', '.join(missing)} "
                           f"(registered: {', '.join(registered) or 'none'})",
                           f"add {', '.join(repr(m) for m in missing)} to get_handlers() in {src['location']}"))
    if stub_run and exp.subs:
        try:
            report = run_experiment(plan, exp_id, stub=True, force=True, runs_dir=runs_dir, python=interp)
            bad = {s: e for s, e in report.to_json()["failed"].items()}
            lines.append(_line("stub run", not bad,
                               f"harness ran end to end with stub handlers ({report.findings})" if not bad else
                               "; ".join(f"{s}: {e}" for s, e in bad.items()),
                               "see the stub run's logs: expkit runs list --group plan:" + exp_id))
        except ExpkitError as exc:
            lines.append(_line("stub run", False, exc.message, exc.hint))
    return lines
