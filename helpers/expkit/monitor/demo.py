"""What `expkit demo` shows of a finished run: its diagnosis, in a few lines."""

from __future__ import annotations

from typing import Callable


def show_diagnosis(run, echo: Callable[[str], None] = print) -> dict:
    """Diagnose `run` and print the verdict, the cause's evidence and its first fixes; returns the diagnosis."""
    from expkit.monitor.diagnose import diagnose
    from expkit.monitor.render import render_text

    result = diagnose(run)
    for line in render_text(result, max_fixes=3):
        echo(line)
    return result
