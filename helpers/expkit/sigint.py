"""Ctrl-C for the commands that follow something until it ends (`runs watch`, `runs logs --follow`, a sweep on
Slurm): they install their own SIGINT handler instead of trusting the inherited one, because a process started
in the background of a non-interactive shell (`cmd &` in a script, a CI step) inherits SIGINT as ignored and
would otherwise never stop on Ctrl-C."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def ctrl_c_stops() -> Iterator[None]:
    """Within the block SIGINT raises KeyboardInterrupt, whatever disposition the process inherited."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
