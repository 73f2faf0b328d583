"""What validates but is probably not meant: the warnings of `expkit plan validate`."""

from __future__ import annotations

from expkit.errors import ExpkitError
from expkit.plan import words
from expkit.plan.handlers import source_for
from expkit.plan.schema import Plan, Problem, positions


def plan_warnings(plan: Plan) -> list[Problem]:
    """What validates but is probably not meant: TODO placeholders `expkit plan new` left (in the plan, the
    experiment's .md, its handler), and status words expkit does not know (shown raw, never opening a gate)."""
    out: list[Problem] = []
    files = [plan.path] + [plan.research_dir / "experiments" / f"{e}.md" for e in plan.experiments]
    try:
        for exp in plan.experiments.values():
            loc = source_for(plan, exp).location
            init = loc / "__init__.py" if loc.is_dir() else loc
            if init not in files:
                files.append(init)
    except (ExpkitError, OSError):
        pass
    for path in files:
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            col = line.find("TODO")
            if col >= 0 and not line.lstrip().startswith("#"):
                out.append(Problem(path, number, col + 1, f"placeholder left to fill in: {line.strip()[:80]}",
                                   "replace the TODO with the real text (or code) before running"))
    positions = None
    for exp in plan.experiments.values():
        word = words.status(exp.raw.get("status"))
        if word["known"]:
            continue
        if positions is None:
            from expkit.yamlfile import compose_yaml

            positions = positions(compose_yaml(plan.path, source=str(plan.path)))
        line, col = positions.get(("experiments", exp.id, "status", "="), (1, 1))
        out.append(Problem(plan.path, line, col, f"status '{word['raw']}' of {exp.id} is not a word expkit knows: "
                           "shown as written, and it does not open a dependency gate",
                           "start it with passed, completed, proceed, pivot or failed (e.g. passed_with_pivot), or "
                           "use in_progress, not_started, blocked"))
    return out
