"""`expkit queue ...`: add commands, run them on the free GPUs, watch the queue."""

from __future__ import annotations

import os
import sys

import click

from expkit.cli.options import emit, json_option, runs_dir_option

queue_name_option = click.option("--queue", "queue_name", default="default", show_default=True,
                                 help="Which queue (each is a folder under <runs dir>/.queue/).")


@click.group()
def queue():
    """A GPU-aware job queue: add commands now, run them unattended on free GPUs."""


@queue.command("add", context_settings={"ignore_unknown_options": False})
@click.option("--name", help="Run name for the job (default: from the command).")
@click.option("--env", "env_pairs", multiple=True, metavar="K=V", help="Extra environment variable (repeatable).")
@queue_name_option
@runs_dir_option
@json_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def add(name, env_pairs, queue_name, runs_dir, as_json, command):
    """Add COMMAND to the queue (it starts with `expkit queue run`; a running queue picks it up).

    Example:

        expkit queue add -- python train.py --lr 0.1
    """
    from expkit.runs.launch import parse_env_pairs
    from expkit.sweeps.sweep import queue_add

    from expkit.cli.options import warn
    from expkit.redact import MASK

    env = parse_env_pairs(list(env_pairs))
    job = queue_add(list(command), runs_dir, queue=queue_name, name=name, env=env)
    for key, value in (job.get("env") or {}).items():
        if value == MASK and os.environ.get(key) != env.get(key):
            warn(f"{key} is not written to the queue file: export it in the shell that runs `expkit queue run`")
    emit({"queue": queue_name, "job_id": job["id"], "command": job["argv"], "state": job["state"]}, as_json,
         f"queued {job['id']} in {queue_name}: {' '.join(job['argv'])}")


@queue.command("run")
@click.option("--gpus", help="auto (every GPU, the default), indices like 0,1,2,3, or none for CPU only.")
@click.option("--per-gpu", type=int, default=1, show_default=True, help="Jobs sharing one GPU.")
@click.option("--max-parallel", type=int, help="At most this many jobs at once (CPU only: default 1).")
@click.option("--retries", type=int, default=0, show_default=True, help="Extra attempts for a failed job.")
@click.option("--backoff", "backoff_s", type=float, default=30.0, show_default=True,
              help="Seconds before the first retry, doubled after.")
@click.option("--stop-after-same-failures", "same_failures", type=int, default=3, show_default=True,
              help="Stop when the first N finished jobs fail the same way (0: never).")
@queue_name_option
@runs_dir_option
@json_option
def run(gpus, per_gpu, max_parallel, retries, backoff_s, same_failures, queue_name, runs_dir, as_json):
    """Run the queued jobs until none is left, one per free GPU (or CPU slot).

    Safe to kill and run again: finished jobs are not repeated, running ones are adopted.

    Example:

        expkit queue run --gpus 0,1 --retries 1
    """
    from expkit.sweeps.sweep import RunOptions, queue_run

    opts = RunOptions(gpus=gpus, per_gpu=per_gpu, max_parallel=max_parallel, retries=retries, backoff_s=backoff_s,
                      same_failures=same_failures)
    result = queue_run(opts, runs_dir, queue=queue_name,
                       echo=(lambda m: click.echo(m, err=True)) if not as_json else None)

    def text():
        parts = [f"{v} {k}" for k, v in result["counts"].items() if v]
        click.echo(f"queue {queue_name}: {', '.join(parts)}")
        if result.get("stopped_reason"):
            click.echo(f"  stopped: {result['stopped_reason']}")

    emit(result, as_json, text)
    if result.get("stopped_reason") or result["counts"].get("failed"):
        sys.exit(1)


@queue.command("status")
@queue_name_option
@runs_dir_option
@json_option
def status(queue_name, runs_dir, as_json):
    """Show the queue's jobs: state, attempts, GPU, run id.

    Example:

        expkit queue status --json
    """
    from expkit.cli.sweep import render_status
    from expkit.errors import ExpkitError
    from expkit.runs.store import resolve_runs_dir
    from expkit.sweeps.batch import Batch, queue_root
    from expkit.sweeps.sweep import status as batch_status

    from expkit.paths import plain_name

    root = resolve_runs_dir(runs_dir).resolve()
    batch = Batch(queue_root(root) / plain_name(queue_name, "queue name"))
    if not batch.exists():
        raise ExpkitError(f"no queue named {queue_name} in {root}", "add a job with `expkit queue add -- CMD`")
    result = batch_status(batch, root)
    emit(result, as_json, lambda: render_status(result))
