"""`--backend` and the resource options shared by `plan run` and `sweep run` (same meaning as on launch)."""

from __future__ import annotations

from typing import Any

import click

from expkit.errors import ExpkitError


def backend_options(fn=None, *, modal: bool = False):
    """Adds --backend, --partition, --account, --time, --cpus, --mem (collected with `collect`); with
    modal=True (`plan run`) also --secret, and the help names Modal too."""
    if fn is None:
        return lambda f: backend_options(f, modal=modal)
    opts = [
        click.option("--backend", default="local", show_default=True,
                     help=f"Where each run executes: {'local, slurm or modal' if modal else 'local or slurm'} "
                          "(see `expkit backends`)."),
        click.option("--partition", help="Slurm partition."),
        click.option("--account", help="Slurm account to charge."),
        click.option("--time", "time_limit", help="Time limit per run: Slurm --time (4:00:00)"
                     + (" or the Modal timeout." if modal else ".")),
        click.option("--cpus", type=int, help="CPUs per run (Slurm --cpus-per-task" + (", Modal cpu)." if modal else ").")),
        click.option("--mem", help="Memory per run (Slurm --mem, e.g. 32G" + ("; Modal memory)." if modal else ").")),
    ]
    if modal:
        opts.append(click.option("--secret", "secrets", multiple=True, metavar="NAME",
                                 help="Modal secret to attach by name, e.g. wandb (repeatable; --backend modal)."))
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def collect(backend: str, partition, account, time_limit, cpus, mem, gpus=None, secrets=(),
            where: str = "slurm", nodes=None) -> tuple[str, dict[str, Any]]:
    """(backend name, its options); the options without a backend are an error, as on `expkit launch`.
    `where`: the backends these options apply to, as the error names them."""
    backend = (backend or "local").lower()
    options = {k: v for k, v in (("partition", partition), ("account", account), ("time", time_limit),
                                  ("cpus", cpus), ("mem", mem), ("gpus", gpus), ("nodes", nodes)) if v is not None}
    if secrets:
        if backend != "modal":
            raise ExpkitError("--secret names a Modal secret", "use it with --backend modal; locally and on Slurm "
                              "secrets come from the environment you run from")
        options["secrets"] = list(secrets)
    if options and backend == "local":
        raise ExpkitError(f"--{'/--'.join(options)} only apply to --backend {where}",
                          f"add --backend {where.split()[0]} (see `expkit backends`), or drop the option")
    return backend, options
