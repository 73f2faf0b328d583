"""The log pump: copies a command's output into its log with every known secret value replaced by ***.

One implementation for every place a run's log is written: the local supervisor, a plan sub-experiment's unit
(loaded by path into the project's interpreter, so: standard library only, Python 3.8+), a Slurm job script
(`python logpump.py` as a filter) and the body of a Modal run. The values come from EXPKIT_SCRUB_SECRETS (a JSON
list, handed over in the environment, never written to disk).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
import time

SCRUB_ENV = "EXPKIT_SCRUB_SECRETS"  # = expkit.redact.SCRUB_ENV
MASK = b"***"


def secrets_from(value):
    """The values of an EXPKIT_SCRUB_SECRETS string, as bytes, longest first."""
    try:
        values = json.loads(value or "[]")
    except ValueError:
        return []
    return sorted({v.encode("utf-8", "surrogateescape") for v in values if isinstance(v, str) and v},
                  key=len, reverse=True)


def partial_secret(data, secrets):
    """Length of the longest end of `data` that could be the start of a secret split across two reads."""
    for k in range(min(len(data), max(map(len, secrets)) - 1), 0, -1):
        end = data[-k:]
        if any(s.startswith(end) for s in secrets):
            return k
    return 0


def pump(src, write, secrets):
    """Copy fd `src` to `write(bytes)` with every secret replaced by ***, until the last writer closes it.

    Returns the error that stopped the log from being written (a full disk), after draining the rest."""
    pending, error = b"", None
    while True:
        try:
            chunk = os.read(src, 1 << 16)
        except InterruptedError:
            continue
        data = pending + chunk
        for s in secrets:
            if s in data:
                data = data.replace(s, MASK)
        keep = partial_secret(data, secrets) if chunk and secrets else 0
        out, pending = data[:len(data) - keep], data[len(data) - keep:]
        if out and error is None:
            try:
                write(out)
            except OSError as exc:  # keep draining, so the command is never blocked on a full pipe
                error = exc
        if not chunk:
            return error


def fd_writer(fd):
    """write(bytes) that writes all of it to `fd` (os.write may write less)."""
    def write(data):
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    return write


def start(log_fd, secrets, close=()):
    """Fork the pump process; returns (write end for the command's stdout/stderr, the pump's pid).

    The pump is a process of its own (own session, deaf to SIGTERM/SIGINT/SIGHUP, the fds in `close` closed) so that a killed parent does not take the command's output, and with it the command, down: it ends
    when the last writer (the command and anything it started) closes the pipe. Exit code 28: the log met a full
    disk."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setsid()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
            os.close(write_fd)
            for fd in close:
                try:
                    os.close(fd)
                except OSError:
                    pass
            error = pump(read_fd, fd_writer(log_fd), secrets)
            code = 0 if error is None else 28 if error.errno in (errno.ENOSPC, errno.EDQUOT) else 1
        finally:
            os._exit(code)
    os.close(read_fd)
    return write_fd, pid


def result(pid, wait_s=10.0):
    """The pump's verdict once the command has ended: it finishes when the output is drained (a background
    process still holding the pipe keeps it going: then it is left to finish on its own)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1
            return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)) if code == 28 else None
        time.sleep(0.02)
    return None


def main():
    """`python logpump.py`: stdin to stdout, scrubbed of the values in $EXPKIT_SCRUB_SECRETS (a Slurm job's log).
    Deaf to SIGTERM/SIGINT/SIGHUP: it ends when the command's side of the pipe closes, after the last line."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    secrets = secrets_from(os.environ.get(SCRUB_ENV))
    error = pump(0, fd_writer(1), secrets)
    return 0 if error is None else 28 if error.errno in (errno.ENOSPC, errno.EDQUOT) else 1


if __name__ == "__main__":
    sys.exit(main())
