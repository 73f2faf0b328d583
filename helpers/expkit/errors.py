"""Errors a user can act on: they print as `error:` + `hint:` with no traceback."""

from __future__ import annotations


class ExpkitError(Exception):
    """Bad usage or bad input (exit 2) unless a subclass or `exit_code` says otherwise."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code


class Failure(ExpkitError):
    """The command ran and reports a failure (a failed run, a failed check): exit 1."""

    exit_code = 1
