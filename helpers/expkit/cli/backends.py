"""`expkit backends`: which backends can run work here, and what to do about the others."""

from __future__ import annotations

import click

from expkit.cli.options import emit, json_option


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
