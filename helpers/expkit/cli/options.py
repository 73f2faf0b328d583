"""Shared click options and output helpers: every command reports the same way."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import click

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object for agents.")


def _runs_dir_default() -> str | None:
    return os.environ.get("EXPKIT_RUNS_DIR")


runs_dir_option = click.option(
    "--runs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=_runs_dir_default,
    help="Where runs live (default: $EXPKIT_RUNS_DIR, else ./runs at the project root).",
)


def emit(obj: Any, as_json: bool, text: Callable[[], None] | str | None = None) -> None:
    """Print `obj` as one JSON object, or call/print the human form."""
    if as_json:
        # indented for a person at a terminal; compact (and C-encoded, so faster) for a program
        indent = 2 if sys.stdout.isatty() else None
        sys.stdout.write(json.dumps(obj, indent=indent, default=str) + "\n")
        sys.stdout.flush()
        return
    if callable(text):
        text()
    elif text is not None:
        click.echo(text)


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)
