"""The research-plan part of `expkit demo`: a stub check, a real run with one failure, then --rerun-failed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "research"
EXPERIMENT = "c1-linear-sufficiency"


def run_demo(workdir: Path, echo: Callable[[str], None] = print, example: Path | None = None) -> dict[str, Any]:
    """Copy examples/research into workdir/research-demo (a fresh git repo), run the plan three ways, and
    return {project, findings, plot, stub, first, rerun} (the reports as JSON)."""
    import sys

    from expkit.cli.plan import print_summary
    from expkit.plan.execute import run_experiment
    from expkit.plan.interpreter import Interpreter
    from expkit.plan.schema import load_plan

    src = Path(example or EXAMPLE)
    project = Path(workdir) / "research-demo"
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(src, project, ignore=shutil.ignore_patterns("__pycache__", "runs", "stub", "*.pyc"))
    if shutil.which("git"):
        from expkit.demo_repo import init_demo_repo

        init_demo_repo(project, "research plan for the demo")
    plan = load_plan(project / "research" / "research_plan.yaml")
    runs_dir = project / "runs"
    python = Interpreter(sys.executable, "expkit's own interpreter (the demo's handlers need only the standard library)")
    step = lambda text: echo(f"\n== {text}")  # noqa: E731

    step(f"expkit plan run {EXPERIMENT} --stub   (the harness end to end; stub results are never evidence)")
    stub = run_experiment(plan, EXPERIMENT, stub=True, runs_dir=runs_dir, echo=echo, python=python)
    print_summary(stub.to_json(), echo)

    step(f"expkit plan run {EXPERIMENT}   (e1_3 fails on its first run: its feature cache is cold)")
    first = run_experiment(plan, EXPERIMENT, runs_dir=runs_dir, echo=echo, python=python)
    print_summary(first.to_json(), echo)

    step(f"expkit plan run {EXPERIMENT} --rerun-failed   (only e1_3 runs again)")
    rerun = run_experiment(plan, EXPERIMENT, rerun_failed=True, runs_dir=runs_dir, echo=echo,
                           python=python)
    print_summary(rerun.to_json(), echo)
    plot = rerun.findings.parent / "plots" / "metrics.png" if rerun.findings else None
    if plot and plot.exists():
        echo(f"Plot: {plot}")
    echo(f"Project rollup: {rerun.rollup}")
    return {"project": str(project), "findings": str(rerun.findings), "rollup": str(rerun.rollup),
            "plot": str(plot) if plot and plot.exists() else None, "stub": stub.to_json(),
            "first": first.to_json(), "rerun": rerun.to_json()}
