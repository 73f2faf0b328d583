"""`expkit demo`: the showcase of the whole product."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--dir", "workdir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to put the demo project (default: a new temp folder).")
def demo(workdir):
    """Run the showcase: a real tiny training run, launched, followed and inspected.

    Needs only Python and git; runs on a CPU in seconds.

    Example:

        expkit demo --dir /tmp/expkit-demo
    """
    from expkit.demo import run_demo

    run_demo(workdir, click.echo)
