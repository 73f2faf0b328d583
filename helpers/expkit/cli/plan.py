"""`expkit plan ...`: validate, status, new, check, run, sync, findings for research_plan.yaml projects."""

from __future__ import annotations

from pathlib import Path

import click

from expkit.cli.backendopts import backend_options, collect
from expkit.cli.options import emit, json_option, runs_dir_option
from expkit.errors import ExpkitError

plan_option = click.option("--plan", "plan_path", type=click.Path(path_type=Path),
                           help="research_plan.yaml (default: research/research_plan.yaml here or above).")


def _load(plan_path: Path | None):
    from expkit.plan.schema import load_plan

    return load_plan(plan_path)


@click.group()
def plan():
    """Research plans: research_plan.yaml -> handlers -> results.yaml -> verdicts -> FINDINGS.md.

    Example:

        expkit plan run c1-vlm-latent-sufficiency
    """


@plan.command("validate")
@click.argument("plan_file", required=False, type=click.Path(path_type=Path))
@json_option
def validate(plan_file, as_json):
    """Check research_plan.yaml; print each problem as file:line:column with a hint.

    Example:

        expkit plan validate research/research_plan.yaml
    """
    from expkit.plan.lint import plan_warnings
    from expkit.plan.schema import check_plan

    plan_obj, problems = check_plan(plan_file)
    warnings = plan_warnings(plan_obj) if plan_obj else []
    if as_json:
        emit({"ok": not problems, "plan": str(plan_obj.path) if plan_obj else str(plan_file or ""),
              "experiments": list(plan_obj.experiments) if plan_obj else [],
              "problems": [p.to_json() for p in problems], "warnings": [w.to_json() for w in warnings]}, True)
    elif not problems:
        for w in warnings:
            click.echo(f"warning: {w}", err=True)
            click.echo(f"hint: {w.hint}", err=True)
        click.echo(f"{plan_obj.path}: ok ({len(plan_obj.experiments)} experiments, {len(plan_obj.gates)} gates)"
                   + (f", {len(warnings)} warning(s)" if warnings else ""))
    else:
        for p in problems:
            click.echo(f"error: {p}", err=True)
            if p.hint:
                click.echo(f"hint: {p.hint}", err=True)
    if problems:
        raise click.exceptions.Exit(1)


@plan.command("status")
@click.argument("exp_id", required=False)
@plan_option
@json_option
def status(exp_id, plan_path, as_json):
    """Experiments, phases and gates: what ran, what it recommends, what blocks what.

    Example:

        expkit plan status
    """
    from expkit.plan.status import plan_status

    st = plan_status(_load(plan_path), exp_id)
    for w in st["warnings"]:
        click.echo(f"warning: {w}", err=True)

    def text():
        proj = st["project"]
        if proj.get("name"):
            click.echo(f"{proj['name']}" + (f": {proj['hypothesis']}" if proj.get("hypothesis") else ""))
        for e in st["experiments"]:
            last = e["result_status"] or "not run"
            if e.get("results_by") == "another runner":
                claimed = e.get("claimed") or {}
                said = claimed.get("recommendation") or claimed.get("status")
                last += f" (results by another runner{'' if not said else ', which said ' + str(said)}; judged here)"
            rec = f" -> {e['recommendation']}" if e["recommendation"] else ""
            crit = f", criteria {e['criteria_ok']}/{e['criteria_total']}" if e["criteria_ok"] is not None else ""
            if e.get("criteria_total") and not e.get("criteria_judged") and e["result_status"]:
                crit = f", no criterion judged (confidence none)"
            if e.get("on_modal"):
                last, rec, crit = f"{e['on_modal']} run(s) on Modal, not judged yet (expkit plan sync {e['id']})", "", ""
            blocked = f"  [blocked by {', '.join(e['blocked_by'])}]" if e["blocked_by"] else ""
            plan_word = e["plan_status_shown"] if e["plan_status"] is not None else "-"
            click.echo(f"  phase {e['phase'] if e['phase'] is not None else '-'}  {e['id']}  "
                       f"plan:{plan_word}  last run: {last}{rec}{crit}{blocked}")
            if e.get("stale"):
                click.echo(f"      stale plan status: {e['stale']}")
            if exp_id:
                for sub, state in e["subs"].items():
                    click.echo(f"      {sub}: {state}")
        if st["gates"] and not exp_id:
            click.echo("gates:")
            for g in st["gates"]:
                state = "open" if g["open"] else f"waiting on {', '.join(g['waiting_on'])}"
                click.echo(f"  {g['id']} ({g['name']}) -> {g['unlocks'] or '-'}: {state}")

    emit(st, as_json, text)


@plan.command("new")
@click.argument("exp_id")
@click.option("--sub", "subs", help="Sub-experiment ids, comma separated (default: e<N>_1 from the prefix).")
@plan_option
@json_option
def new(exp_id, subs, plan_path, as_json):
    """Scaffold an experiment: plan entry, research/experiments/<id>.md, handler package and its test.

    Example:

        expkit plan new c3-longer-context --sub e3_1,e3_2
    """
    from expkit.plan.scaffold import new_experiment

    out = new_experiment(exp_id, plan_path, Path.cwd(), [s.strip() for s in subs.split(",")] if subs else None)

    def text():
        click.echo(f"added {exp_id} to {out['plan']}")
        for path in out["created"]:
            click.echo(f"  created {path}")
        for note in out["notes"]:
            click.echo(f"  note: {note}")
        click.echo(f"next: fill in the TODOs, then `{out['next']}`")

    emit(out, as_json, text)


python_option = click.option(
    "--python", "python", metavar="PATH",
    help="The project's interpreter (or its environment folder) that runs the handlers. Default: `python:` in the "
         "plan, else the active virtualenv/conda env, else the project's .venv/, else expkit's own (with a warning).")


@plan.command("check")
@click.argument("exp_id")
@python_option
@plan_option
@runs_dir_option
@json_option
def check(exp_id, python, plan_path, runs_dir, as_json):
    """Pre-flight: interpreter, plan entry, criteria, handlers registered and importable, a stub run end to end.

    The handlers are imported in the project's interpreter (the one `plan run` uses); the first line says which.

    Example:

        expkit plan check c1-vlm-latent-sufficiency

        expkit plan check c1-vlm-latent-sufficiency --python .venv/bin/python
    """
    from expkit.plan.check import preflight

    plan_obj = _load(plan_path)
    exp_id = plan_obj.resolve(exp_id)
    lines = preflight(plan_obj, exp_id, runs_dir, python=python)
    ok = all(line["ok"] for line in lines)

    def text():
        for line in lines:
            click.echo(f"{'pass' if line['ok'] else 'FAIL'}  {line['check']}: {line['detail']}")
            if line["fix"]:
                click.echo(f"      fix: {line['fix']}")
        click.echo("ready to run" if ok else "not ready: fix the lines marked FAIL")

    emit({"experiment_id": exp_id, "ok": ok, "checks": lines}, as_json, text)
    if not ok:
        raise click.exceptions.Exit(1)


@plan.command("run")
@click.argument("exp_id")
@click.option("--sub", "subs", help="Only these sub-experiments, comma separated (e1_1,e1_2).")
@click.option("--stub", is_flag=True, help="Stub handlers: test the harness; results are marked stub, never proceed.")
@click.option("--rerun-failed", is_flag=True, help="Run only what failed, was skipped or never ran.")
@click.option("--force", is_flag=True, help="Run even when dependencies have not reached proceed/passed.")
@python_option
@backend_options(modal=True)
@click.option("--gpus", help="With --backend slurm: GPUs per sub-experiment job (1, or a100:1); with --backend "
              "modal: a GPU type (A100, H100:2).")
@plan_option
@runs_dir_option
@json_option
def run(exp_id, subs, stub, rerun_failed, force, python, backend, partition, account, time_limit, cpus, mem, secrets, gpus,
        plan_path, runs_dir, as_json):
    """Run an experiment's sub-experiments (each isolated, each an expkit run), judge them, write FINDINGS.md.

    Handlers run in the project's Python, never expkit's: --python, else `python:` in the plan (per experiment
    or for the whole plan), else the active virtualenv or conda env, else the project's .venv/ or venv/, else
    expkit's own interpreter with a warning. Each run's manifest records which one and why.
    Exit code 0 when every sub-experiment completed (proceed, pivot or investigate), 1 when any failed.
    With --backend slurm each sub-experiment is a Slurm job running the plan runtime in that Python, so
    the compute nodes must share this filesystem and Python environment; the runner waits for each in turn.
    With --backend modal each sub-experiment is a Modal function call (image from the project's dependency
    file, the project folder in it); the command returns once they are submitted and `expkit plan sync`
    brings them back, judges the experiment and writes FINDINGS.md.

    Example:

        expkit plan run c1-vlm-latent-sufficiency --rerun-failed

        expkit plan run c1-vlm-latent-sufficiency --backend slurm --partition gpu --time 2:00:00 --mem 32G

        expkit plan run c1-vlm-latent-sufficiency --backend modal --gpus A100 --time 2:00:00 --secret wandb
    """
    from expkit.plan.execute import run_experiment

    backend, options = collect(backend, partition, account, time_limit, cpus, mem, gpus=gpus, secrets=secrets,
                               where="slurm or modal")
    plan_obj = _load(plan_path)
    exp_id = plan_obj.resolve(exp_id)
    sub_list = [s.strip() for s in subs.split(",") if s.strip()] if subs else None
    echo = (lambda msg: click.echo(msg, err=True)) if as_json else click.echo
    report = run_experiment(plan_obj, exp_id, subs=sub_list, stub=stub, rerun_failed=rerun_failed, force=force,
                            runs_dir=runs_dir, backend=backend, backend_options=options, echo=echo,
                            warn=lambda msg: click.echo(msg, err=True), python=python)
    emit(report.to_json(), as_json, lambda: print_summary(report.to_json(), click.echo))
    if report.failed:
        raise click.exceptions.Exit(1)


def print_summary(data: dict, echo,
                  nothing: str = "nothing to run: every selected sub-experiment already succeeded") -> None:
    """The summary researchers know: counts, status, recommendation, then what failed and how to re-run it."""
    counts = data.get("counts") or {}
    echo("")
    if not data["ran"]:
        echo(nothing)
    echo(f"Completed: {counts.get('completed', 0)}  Failed: {counts.get('failed', 0)}  "
         f"Skipped: {counts.get('skipped', 0)}" + (f"  Not run: {counts['not_run']}" if counts.get("not_run") else ""))
    echo(f"Status: {data['status']}" + ("  (STUB: placeholder results, not evidence)" if data["stub"] else ""))
    if data.get("submitted"):
        echo(f"On Modal: {len(data['submitted'])} sub-experiment run(s), not judged yet. "
             f"Bring them back: {data['sync_command']}")
        return
    echo(f"Recommendation: {data['recommendation']}" +
         (f"  ({data['recommendation_notes']})" if data.get("recommendation_notes") else ""))
    if data["status"] not in ("failed", "stub"):
        for c in (data.get("criteria") or {}).values():
            value = "not measured" if c["value"] is None else f"{c['value']:.4g}"
            flag = " (borderline)" if c["borderline"] else (f" (within 5% of {c['near_threshold']})"
                                                            if c["near_threshold"] else "")
            echo(f"  {c['metric']}: {value} -> {c['label']}{flag}")
    if data["failed"]:
        echo("Failed:")
        for sub, err in data["failed"].items():
            echo(f"  {sub}: {err}")
        echo(f"Re-run them: {data['rerun_command']}")
    for w in data.get("warnings") or []:
        if "FINDINGS.md line" in w:  # the ones found while writing FINDINGS.md (the others were printed up front)
            echo(f"warning: {w}")
    for note in data.get("notes") or []:
        echo(note)
    if data.get("findings"):
        echo(f"Findings: {data['findings']}")


@plan.command("sync")
@click.argument("exp_id")
@click.option("--stub", is_flag=True, help="Sync the stub run (research/experiments/<id>/stub/).")
@plan_option
@runs_dir_option
@json_option
def sync(exp_id, stub, plan_path, runs_dir, as_json):
    """Bring an experiment's Modal sub-experiments back, judge it, write results.yaml and FINDINGS.md.

    Each run's stdout.log, status, metrics.jsonl and result come back into its run dir and its artifacts into
    research/experiments/<id>/artifacts/; once none is still running, the verdict and FINDINGS.md are written
    exactly as a local run writes them. Local and Slurm runs need no sync. Exit code 1 when a sub-experiment
    failed.

    Example:

        expkit plan sync c1-vlm-latent-sufficiency
    """
    from expkit.plan.sync import sync_experiment

    plan_obj = _load(plan_path)
    exp_id = plan_obj.resolve(exp_id)
    echo = (lambda msg: click.echo(msg, err=True)) if as_json else click.echo
    report, used = sync_experiment(plan_obj, exp_id, stub=stub, runs_dir=runs_dir, echo=echo)
    if report is None:
        where = " and ".join(used) or "nowhere yet"
        emit({"experiment_id": exp_id, "backends": used, "synced": [], "status": None}, as_json,
             f"{exp_id} ran {'locally' if used == ['local'] else 'on ' + where}: its results are already here, "
             "nothing to fetch")
        return
    data = {**report.to_json(), "backends": used, "synced": report.ran}
    for w in report.warnings:
        click.echo(f"warning: {w}", err=True)
    emit(data, as_json, lambda: print_summary(data, click.echo, "nothing left on Modal: every run was already "
                                              "brought back (results re-judged, FINDINGS.md rewritten)"))
    if report.failed:
        raise click.exceptions.Exit(1)


@plan.command("findings")
@click.argument("exp_id", required=False)
@click.option("--all", "all_", is_flag=True, help="Every experiment with results, and the project rollup.")
@click.option("--stub", is_flag=True, help="Render the stub run's findings (research/experiments/<id>/stub/).")
@plan_option
@json_option
def findings(exp_id, all_, stub, plan_path, as_json):
    """Regenerate FINDINGS.md from results.yaml (text outside expkit's markers is kept).

    Example:

        expkit plan findings --all
    """
    from expkit.report.findings import render_all, render_experiment, render_rollup

    if not exp_id and not all_:
        raise ExpkitError("give an experiment id or --all", "expkit plan findings c1-my-claim, or --all")
    plan_obj = _load(plan_path)
    warnings: list[str] = []
    if all_:
        paths = render_all(plan_obj, warnings)
    else:
        paths = [render_experiment(plan_obj, plan_obj.resolve(exp_id), stub=stub, warnings=warnings)]
        if not stub:
            paths.append(render_rollup(plan_obj, warnings))
    if not as_json:
        for w in warnings:
            click.echo(f"warning: {w}", err=True)
    emit({"written": [str(p) for p in paths], "warnings": warnings}, as_json,
         "\n".join(f"wrote {p}" for p in paths))
