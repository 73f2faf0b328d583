"""Names a user gives (a queue, a run) become folder names: they must stay one plain name, never a path."""

from __future__ import annotations

import re

from expkit.errors import ExpkitError

_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")


def plain_name(value: str, what: str) -> str:
    """`value` as one folder name: letters, digits, . _ + -, no separators, not `.`/`..`, at most 128 characters."""
    if not isinstance(value, str) or not _PLAIN.match(value) or value in (".", ".."):
        raise ExpkitError(f"invalid {what} {value!r}: use letters, digits, '.', '_', '+' and '-' "
                          "(no '/', no leading '.' or '-', at most 128 characters)",
                          f"pick a plain name for the {what}, e.g. 'nightly' or 'lr-sweep_2'")
    return value
