"""`expkit schedule`: write a standalone bash script that runs jobs unattended."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import click

from expkit.cli.options import emit, json_option, runs_dir_option, warn


@click.command()
@click.option("--spec", type=click.Path(path_type=Path), help="Take the jobs from this sweep spec's trials.")
@click.option("--from-file", "from_file", type=click.Path(path_type=Path), help="One command per line.")
@click.option("--cmd", "commands", multiple=True, help="A command (repeatable).")
@click.option("--gpus", default="none", show_default=True, help="GPU indices like 0,1,2,3 (one job per GPU at a "
              "time), or none for CPU.")
@click.option("--per-gpu", type=int, default=1, show_default=True, help="Jobs sharing one GPU.")
@click.option("--parallel", type=int, default=1, show_default=True, help="CPU only: jobs at once.")
@click.option("--deadline", default="", help="No new job starts after this (HH:MM or 'YYYY-mm-dd HH:MM'); the "
              "script's --deadline overrides it.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("schedule.sh"), show_default=True)
@click.option("--env", "env_pairs", multiple=True, metavar="K=V", help="Environment variable for every job "
              "(repeatable; added to a spec's env:).")
@runs_dir_option
@json_option
def schedule(spec, from_file, commands, gpus, per_gpu, parallel, deadline, output, env_pairs, runs_dir, as_json):
    """Write a standalone, idempotent bash script that runs jobs unattended.

    set -euo pipefail, timestamped logs in logs/ next to the script, skips jobs that already finished, --dry-run,
    and a deadline after which no new job starts. The jobs run from the current directory wherever the script
    is written, and each is an expkit run: a spec's trials belong to its sweep (`expkit sweep report NAME`),
    other commands to the group schedule-<script name> (`expkit runs list --group schedule-night`).

    Example:

        expkit schedule --spec sweep.yaml --gpus 0,1 --deadline 07:30 -o night.sh
    """
    from expkit.errors import ExpkitError
    from expkit.fsutil import atomic_write_text
    from expkit.runs.launch import check_runs_dir, parse_env_pairs
    from expkit.runs.store import resolve_runs_dir
    from expkit.runs.outputs import shared_output_warnings
    from expkit.sweeps.schedule import plan_jobs, relative_or_absolute, render

    env = parse_env_pairs(list(env_pairs))
    if not (spec or from_file or commands):
        raise ExpkitError("no jobs to schedule", "give --spec SWEEP.yaml, --from-file jobs.txt or --cmd '...'")
    text = gpus.strip().lower()
    if text in ("none", "cpu", ""):
        slots = [""] * max(1, parallel)
    else:
        items = [g.strip() for g in text.split(",") if g.strip()]
        if not all(re.fullmatch(r"\d+", g) for g in items):
            raise ExpkitError(f"--gpus expects indices like 0,1 or none, got '{gpus}'", "e.g. --gpus 0,1,2,3")
        slots = [g for _ in range(max(1, per_gpu)) for g in items]
    cwd = Path.cwd().resolve()
    root = resolve_runs_dir(runs_dir).resolve()
    check_runs_dir(root)
    output.parent.mkdir(parents=True, exist_ok=True)
    planned = plan_jobs({"spec": spec, "file": from_file, "commands": commands}, root, cwd, output)
    if not planned["ids"]:
        raise ExpkitError("no jobs to schedule", "give --spec SWEEP.yaml, --from-file jobs.txt or --cmd '...'")
    batch = planned["batch"]
    here = output.parent.resolve()
    script = render(planned["commands"], slots, ids=planned["ids"], name=output.name, deadline=deadline,
                    root=relative_or_absolute(cwd, here), state_dir=relative_or_absolute(batch.root, cwd),
                    runs_dir=relative_or_absolute(root, cwd), env=env)
    atomic_write_text(output, script)
    os.chmod(output, 0o755)
    warnings = shared_output_warnings([j["argv"] if j["argv"][:2] != ["bash", "-c"] else shlex.split(j["argv"][2])
                               for j in (batch.load_job(i) for i in planned["ids"])], planned["ids"]) \
        if len(slots) > 1 else []
    group = batch.name
    if not as_json:
        for w in warnings:
            warn(w)
    emit({"script": str(output), "jobs": len(planned["ids"]), "slots": slots, "group": group,
          "state_dir": str(batch.root), "warnings": warnings}, as_json,
         f"wrote {output}: {len(planned['ids'])} job(s) on {len(slots)} slot(s), runs in group {group}\n"
         f"  try it:  bash {output} --dry-run\n  run it:   nohup bash {output} &\n"
         f"  follow:  expkit runs list --group {group}")
