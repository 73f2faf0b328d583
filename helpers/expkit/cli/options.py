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
    """Print `obj` as one JSON object, or call/print the human form. Both pass the secret redactor."""
    from expkit.redact import Redactor

    red = Redactor()
    if as_json:
        # indented for a person at a terminal; compact (and C-encoded, so faster) for a program
        indent = 2 if sys.stdout.isatty() else None
        sys.stdout.write(json.dumps(red.strings(obj), indent=indent, default=str) + "\n")
        sys.stdout.flush()
        return
    if callable(text):
        real = sys.stdout
        sys.stdout = _RedactingStream(real, red)
        try:
            text()
        finally:
            sys.stdout = real
    elif text is not None:
        click.echo(red.text(text))


class _RedactingStream:
    """stdout for a command's text output: every write passes the redactor (click.echo writes whole lines)."""

    def __init__(self, stream, red):
        self._stream, self._red = stream, red

    def write(self, s):
        return self._stream.write(self._red.text(s) if isinstance(s, str) else s)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)
