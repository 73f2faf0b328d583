"""`expkit backends`: which backends can run work here, and what to do about the others."""

from __future__ import annotations

import click

from expkit.cli.options import emit, json_option, runs_dir_option
from expkit.errors import ExpkitError


@click.command()
@json_option
def backends(as_json):
    """List the backends (local, slurm, modal): usable here or not, why, and what to install or configure.

    Example:

        expkit backends --json
    """
    from expkit.backends import check_all

    rows = [a.to_json() for a in check_all()]

    def text():
        for r in rows:
            mark = "ok " if r["usable"] else "no "
            click.echo(f"{r['name']:<6} {mark} {r['detail']}")
            if r["hint"]:
                click.echo(f"{'':<10} hint: {r['hint']}")

    emit({"backends": rows}, as_json, text)


@click.command("sync")
@click.argument("run_id")
@runs_dir_option
@json_option
def sync(run_id, runs_dir, as_json):
    """Bring a remote run's logs, status and artifacts back into its local run dir (Modal runs).

    Local and Slurm runs write into the run dir directly: there is nothing to fetch.

    Example:

        expkit runs sync latest
    """
    from expkit.backends import for_run
    from expkit.runs.store import RunStore

    run = RunStore(runs_dir).get(run_id)
    be = for_run(run)
    plan = run.manifest().get("plan") or {}
    if hasattr(be, "sync") and plan.get("experiment"):  # its result belongs in results.yaml, its artifacts beside it
        exp = plan["experiment"] + (" --stub" if plan.get("stub") else "")
        raise ExpkitError(f"{run.id} is a sub-experiment of {plan['experiment']}",
                          f"run `expkit plan sync {exp}`: it brings the run back and records its result")
    if not hasattr(be, "sync"):
        emit({"run_id": run.id, "backend": be.name, "copied": [], "state": run.state()}, as_json,
             f"{run.id} runs on {be.name}: its run dir is already up to date")
        return
    result = be.sync(run)
    emit({"backend": be.name, **result}, as_json,
         f"synced {run.id}: {len(result['copied'])} files, state {result['state']}")
