"""`--backend` and the Slurm resource options shared by `plan run` and `sweep run` (same meaning as on launch)."""

from __future__ import annotations

from typing import Any

import click

from expkit.errors import ExpkitError


def backend_options(fn):
    """Adds --backend, --partition, --account, --time, --cpus, --mem (collected with `collect`)."""
    for opt in reversed([
        click.option("--backend", default="local", show_default=True,
                     help="Where each run executes: local or slurm (see `expkit backends`)."),
        click.option("--partition", help="Slurm partition."),
        click.option("--account", help="Slurm account to charge."),
        click.option("--time", "time_limit", help="Slurm time limit per run (4:00:00)."),
        click.option("--cpus", type=int, help="CPUs per run (Slurm --cpus-per-task)."),
        click.option("--mem", help="Memory per run (Slurm --mem, e.g. 32G)."),
    ]):
        fn = opt(fn)
    return fn


def collect(backend: str, partition, account, time_limit, cpus, mem, gpus=None) -> tuple[str, dict[str, Any]]:
    """(backend name, its options); the options without a backend are an error, as on `expkit launch`."""
    backend = (backend or "local").lower()
    options = {k: v for k, v in (("partition", partition), ("account", account), ("time", time_limit),
                                  ("cpus", cpus), ("mem", mem), ("gpus", gpus)) if v is not None}
    if options and backend == "local":
        raise ExpkitError(f"--{'/--'.join(options)} only apply to --backend slurm",
                          "add --backend slurm (see `expkit backends`), or drop the option")
    return backend, options
