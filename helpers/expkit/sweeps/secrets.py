"""Secrets in a sweep spec, under the queue's policy: a sweep's state (batch.json, spec.yaml, job files) is plain
text beside the runs, so no secret value is written there.

- A secret in `env:` (a secret-looking name, or a value holding a URL password or a token) is stored as ***;
  `sweep run` gives the trials the spec's value, and `sweep resume` (or a scheduled job) takes it from the
  environment of the process running the sweep, with a warning when it is not set there.
- A secret literal in the command or a parameter (`--api-key VALUE`, `--token=${tok}`, a URL password, a token
  shape) would be in every job file: it is refused, with a hint to pass it through an environment variable.
"""

from __future__ import annotations

import os
from typing import Any, Iterable

from expkit.errors import ExpkitError
from expkit.redact import MASK, Redactor, is_secret_name, redact_text


def secret_env(env: dict[str, str]) -> list[str]:
    """The names in `env` whose value is secret: by name, or by what the value holds."""
    return [k for k, v in env.items() if v and v != MASK and (is_secret_name(k) or redact_text(v) != v)]


def _harmless(value: str) -> bool:
    """`--key_dim=64`, `--no-auth false`: a number or a common word given to a secret-looking flag."""
    try:
        float(value)
        return True
    except ValueError:
        return value.lower() in ("true", "false", "none", "null", "yes", "no")


def check_no_secret_literals(spec, commands: Iterable[list[str]]) -> None:
    """Refuse a spec whose commands (the trials' argv) or other text hold a secret (ExpkitError: exit 2)."""
    red = Redactor()
    for argv in commands:
        red.argv(argv)
    red.strings({k: v for k, v in spec.raw.items() if k != "env"})
    found = [v for v in red.values if not _harmless(v)]
    if found:
        names = ", ".join(red.names) or "a secret value"
        raise ExpkitError(f"the sweep's command or parameters hold a secret ({names}) that would be written in clear "
                          "to the sweep's job files",
                          "pass it through an environment variable instead (the spec's env:, or export it in the "
                          "shell that runs the sweep) and read it in the script")


def stored_raw(spec) -> dict[str, Any]:
    """The spec as the sweep's batch.json keeps it: secret env values as ***."""
    hidden = secret_env(spec.env)
    if not hidden:
        return spec.raw
    env = {k: (MASK if k in hidden else v) for k, v in (spec.raw.get("env") or {}).items()}
    return {**spec.raw, "env": env}


def stored_text(spec, text: str) -> str:
    """The spec file's copy (spec.yaml): the secret env values masked wherever they appear."""
    values = [spec.env[k] for k in secret_env(spec.env)]
    if not values:
        return text
    red = Redactor(values)
    return red.config_bytes(text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")


def unmask_env(spec) -> list[str]:
    """A spec read back from the sweep's state: each *** env value taken from this process's environment.
    Returns the names not set here (left out of the trials' environment)."""
    missing = []
    for key, value in list(spec.env.items()):
        if value == MASK:
            if key in os.environ:
                spec.env[key] = os.environ[key]
            else:
                del spec.env[key]
                missing.append(key)
    return missing


def missing_warning(missing: list[str], again: str) -> str:
    return (f"{', '.join(missing)} not set in this shell: the sweep's spec gave {'it' if len(missing) == 1 else 'them'}"
            f" in env:, and secret values are not kept in the sweep's state; the trials start without "
            f"{'it' if len(missing) == 1 else 'them'} (export {'it' if len(missing) == 1 else 'them'} and {again})")
