"""`expkit demo`: the showcase of the whole product."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--dir", "workdir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to put the demo projects (default: a new temp folder).")
@click.option("--only", multiple=True, type=click.Choice(["preflight", "run", "diagnose", "wandb", "plan", "sweep",
                                                          "backends"]),
              help="Only this part (repeatable; default: all).")
def demo(workdir, only):
    """Run the showcase on tiny real projects: launch, follow, diagnose, W&B, a research plan, a sweep.

    Needs only Python and git; runs on a CPU in about a minute.

    Example:

        expkit demo --dir /tmp/expkit-demo --only run --only plan
    """
    from expkit.demo import run_demo

    run_demo(workdir, click.echo, tuple(only))
