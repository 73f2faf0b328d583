"""`expkit schedule`: write a standalone bash script that runs jobs unattended."""

from __future__ import annotations

import os
import re
from pathlib import Path

import click

from expkit.cli.options import emit, json_option


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
@json_option
def schedule(spec, from_file, commands, gpus, per_gpu, parallel, deadline, output, as_json):
    """Write a standalone, idempotent bash script that runs jobs unattended.

    set -euo pipefail, timestamped logs in logs/, skips jobs that already finished, --dry-run, and a deadline
    after which no new job starts.

    Example:

        expkit schedule --spec sweep.yaml --gpus 0,1 --deadline 07:30 -o night.sh
    """
    from expkit.errors import ExpkitError
    from expkit.fsutil import atomic_write_text
    from expkit.sweeps.schedule import commands_from, render

    jobs = commands_from({"spec": spec, "file": from_file, "commands": commands})
    if not jobs:
        raise ExpkitError("no jobs to schedule", "give --spec SWEEP.yaml, --from-file jobs.txt or --cmd '...'")
    text = gpus.strip().lower()
    if text in ("none", "cpu", ""):
        slots = [""] * max(1, parallel)
    else:
        items = [g.strip() for g in text.split(",") if g.strip()]
        if not all(re.fullmatch(r"\d+", g) for g in items):
            raise ExpkitError(f"--gpus expects indices like 0,1 or none, got '{gpus}'", "e.g. --gpus 0,1,2,3")
        slots = [g for _ in range(max(1, per_gpu)) for g in items]
    script = render(jobs, slots, name=output.name, deadline=deadline)
    atomic_write_text(output, script)
    os.chmod(output, 0o755)
    emit({"script": str(output), "jobs": len(jobs), "slots": slots}, as_json,
         f"wrote {output}: {len(jobs)} job(s) on {len(slots)} slot(s)\n"
         f"  try it:  bash {output} --dry-run\n  run it:   nohup bash {output} &")
