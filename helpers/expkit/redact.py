"""Secret redaction: values of variables whose names look secret never reach disk or the terminal."""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

MASK = "***"
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
# --api-key VALUE, --hf_token=VALUE, password=VALUE (Hydra style)
_SECRET_FLAG = re.compile(r"^(-{0,2}[\w.-]*(?:key|token|secret|password|passwd)[\w.-]*)(=)(.+)$", re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<cred>[^/@\s]+)@", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: (MASK if is_secret_name(k) else v) for k, v in env.items()}


def redact_argv(argv: Iterable[str]) -> list[str]:
    """Mask values given to secret-looking flags: `--api-key X`, `--token=X`, `password=X`."""
    out: list[str] = []
    mask_next = False
    for arg in argv:
        if mask_next:
            out.append(MASK)
            mask_next = False
            continue
        m = _SECRET_FLAG.match(arg)
        if m:
            out.append(m.group(1) + "=" + MASK)
        elif arg.startswith("-") and "=" not in arg and is_secret_name(arg.lstrip("-")):
            out.append(arg)
            mask_next = True
        else:
            out.append(arg)
    return out


def redact_url(url: str) -> str:
    """https://user:token@host/repo -> https://***@host/repo"""
    return _URL_CREDENTIALS.sub(lambda m: m.group("scheme") + MASK + "@", url)


def secret_values(*envs: Mapping[str, str]) -> list[str]:
    """The values of secret-named variables, longest first, so they can be scrubbed from any text."""
    values = {v for env in envs for k, v in env.items() if is_secret_name(k) and v and len(v) >= 4}
    return sorted(values, key=len, reverse=True)


def scrub(obj: Any, values: list[str]) -> Any:
    """Replace every occurrence of a secret value inside strings of a JSON-like structure."""
    if not values:
        return obj
    if isinstance(obj, str):
        for v in values:
            if v in obj:
                obj = obj.replace(v, MASK)
        return obj
    if isinstance(obj, bytes):
        for v in values:
            obj = obj.replace(v.encode(), MASK.encode())
        return obj
    if isinstance(obj, dict):
        return {k: scrub(v, values) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub(v, values) for v in obj]
    return obj
