"""`expkit doctor`: a pre-flight table with pass / warn / fail per check and a fix for each problem."""

from __future__ import annotations

from pathlib import Path

import click

from expkit.cli.options import emit, json_option, runs_dir_option

MARK = {"pass": "ok  ", "warn": "warn", "fail": "FAIL"}


@click.command()
@click.option("--env", "env_name", metavar="NAME", help="Target env (default: the project's, else the active one).")
@click.option("--path", "project", default=".", type=click.Path(path_type=Path), help="Project folder (default: .).")
@runs_dir_option
@json_option
def doctor(env_name, project, runs_dir, as_json):
    """Check git, GPUs, disk, the environment, torch/CUDA in it and wandb auth, before launching.

    Exit 0 when nothing fails (warnings allowed), 1 when a check fails.

    Example:

        expkit doctor --env .venv --json
    """
    from expkit.envs.doctor import doctor as run_doctor
    from expkit.errors import Failure

    out = run_doctor(project, env_name, runs_dir)

    def text():
        width = max(len(c["check"]) for c in out["checks"])
        for c in out["checks"]:
            click.echo(f"[{MARK[c['status']]}] {c['check']:<{width}}  {c['detail']}")
            if c["fix"] and c["status"] != "pass":
                click.echo(f"       {'':<{width}}  fix: {c['fix']}")

    emit(out, as_json, text)
    if out["status"] == "fail":
        failed = [c["check"] for c in out["checks"] if c["status"] == "fail"]
        raise Failure(f"pre-flight failed: {', '.join(failed)}", "apply the fix shown for each FAIL line")
