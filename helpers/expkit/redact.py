"""Secret redaction: one policy for everything expkit writes or prints.

A value is secret when
- its name looks secret (KEY, TOKEN, SECRET, PASSWORD, PASSWD, CREDENTIAL, AUTH), at any depth of a config,
  in the environment, or as a flag (`--api-key VALUE`, `--token=VALUE`, Hydra's `db.password=VALUE`);
- it is the password part of a URL (`https://user:pass@host`);
- it has the shape of a well-known token (`sk-…`, `hf_…`, `ghp_…`, AWS access keys, private key blocks).
Secret values become `***`. A Redactor also remembers the exact values it masked, so the same values can be
scrubbed from any other text (the run's log, a config copy, a patch) and `reproduce` can list what to supply.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

MASK = "***"
SCRUB_ENV = "EXPKIT_SCRUB_SECRETS"  # the exact values the supervisor scrubs from stdout.log (JSON list, never on disk)
# TOKEN but not TOKENS / TOKENIZER (max_tokens, TOKENIZERS_PARALLELISM); AUTH but not AUTHOR
_SECRET_NAME = re.compile(r"KEY|TOKEN(?!S|IZ)|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH(?!OR)", re.IGNORECASE)
_NAME_WORDS = r"(?:key|token(?!s|iz)|secret|password|passwd|credential|auth(?!or))"
# --api-key=VALUE, --hf_token=VALUE, password=VALUE (Hydra style)
_SECRET_FLAG = re.compile(r"^(-{0,2}[\w.-]*" + _NAME_WORDS + r"[\w.-]*)(=)(.+)$", re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<cred>[^/@\s]+)@", re.IGNORECASE)
_URL_CREDENTIALS_TEXT = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^/@\s:'\"]*):(?P<pw>[^/@\s'\"]+)@",
                                   re.IGNORECASE)
# well-known token shapes
_TOKEN_SHAPES = re.compile(
    r"(?<![A-Za-z0-9])(?:sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{20,}|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|github_pat_[A-Za-z0-9_]{20,}|(?:AKIA|ASIA)[0-9A-Z]{16}|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|glpat-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{35})"
)
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S)
# in free text (a shell command, a log line): --api-key VALUE, --token=VALUE, HF_TOKEN=VALUE
_TEXT_ASSIGN = re.compile(
    r"(?<![\w.-])(?P<name>-{1,2}(?:[A-Za-z_][\w.-]*)?" + _NAME_WORDS + r"[\w.-]*(?=[ \t]+[^-\s]|=)"
    r"|(?:[A-Za-z_][\w.]*)?" + _NAME_WORDS + r"[\w.]*(?==))(?P<sep>=|[ \t]+)(?P<q>['\"]?)(?P<value>[^\s'\",}]+)",
    re.IGNORECASE)
# anything that may hold a secret: a URL, a key block, a token prefix, a secret-looking name
_SUSPECT = re.compile(r"://|PRIVATE KEY|sk-|hf_|gh[pousr]_|github_pat_|AKIA|ASIA|xox[abprs]-|glpat-|AIza|key|token"
                      r"|secret|passw|credential|auth", re.IGNORECASE)
_COMMON = {"true", "false", "none", "null", "yes", "no", "default", "enabled", "disabled"}
_CONFIG_LINE = re.compile(  # `api_key: VALUE`, `"hf_token": "VALUE",`, `password = VALUE` in a YAML/JSON/TOML/INI line
    r"(?im)^(?P<head>[ \t]*-?[ \t]*[\"']?(?:[A-Za-z_][\w.-]*)?" + _NAME_WORDS + r"[\w.-]*[\"']?[ \t]*[:=][ \t]*)"
    r"(?P<q>[\"']?)(?P<value>[^\s\"'#,{}\[\]][^\"'#\n,]*?)(?P=q)(?P<tail>[ \t]*,?[ \t]*(?:#.*)?)$")

_JSON_PAIR = re.compile(r'(?P<head>"(?:[A-Za-z_][\w.-]*)?' + _NAME_WORDS + r'[\w.-]*"\s*:\s*)"(?P<value>(?:[^"\\]|\\.)*)"',
                        re.IGNORECASE)


def scrubbable(value: str) -> bool:
    """Long and specific enough to replace wherever it appears: "***" in place of every "true" would be noise."""
    v = value.strip()
    if len(v) < 6 or v.lower() in _COMMON:
        return False
    return not (v.replace(".", "").isdigit() and len(v) < 10)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(str(name)))


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k: (MASK if is_secret_name(k) else redact_text(v) if isinstance(v, str) else v) for k, v in env.items()}


def redact_argv(argv: Iterable[str]) -> list[str]:
    """Mask values given to secret-looking flags: `--api-key X`, `--token=X`, `password=X`; URLs; token shapes."""
    return Redactor().argv(argv)


def redact_url(url: str) -> str:
    """https://user:token@host/repo -> https://***@host/repo"""
    return _URL_CREDENTIALS.sub(lambda m: m.group("scheme") + MASK + "@", url)


def redact_text(text: str) -> str:
    """Free text (a shell command, a reason, a log line): URL passwords, secret assignments, token shapes."""
    return Redactor().text(text)


class Redactor:
    """Applies the policy and remembers every exact value it masked (for scrubbing and for `reproduce`)."""

    def __init__(self, known: Iterable[str] = ()):
        self.values: set[str] = {v for v in known if isinstance(v, str) and v}
        self.names: list[str] = []  # what was masked, for people: "env HF_TOKEN", "flag --api-key", "config db.password"
        self._sorted: tuple[int, list[str]] | None = None

    def _keep(self, value: Any, what: str | None = None) -> str:
        if isinstance(value, str) and value and value != MASK:
            self.values.add(value)
        if what and what not in self.names:
            self.names.append(what)
        return MASK

    # free text ----------------------------------------------------------------------------------------------------
    def text(self, text: str) -> str:
        if not text or not isinstance(text, str):
            return text
        if not _SUSPECT.search(text):  # the common case: nothing that could be a secret (one fast scan)
            return self.scrub(text) if self.values else text
        text = self._shapes(text)
        if _SECRET_NAME.search(text):
            text = _TEXT_ASSIGN.sub(self._assign, text)
        return self.scrub(text)

    def _shapes(self, text: str) -> str:
        """URL passwords, private key blocks and well-known token shapes."""
        if "://" in text:
            text = _URL_CREDENTIALS_TEXT.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:"
                                             f"{self._keep(m.group('pw'), 'URL password')}@", text)
        if "PRIVATE KEY-----" in text:
            text = _PRIVATE_KEY.sub(lambda m: self._keep(m.group(0), "private key"), text)
        return _TOKEN_SHAPES.sub(lambda m: self._keep(m.group(0), "token"), text)

    def _assign(self, m: re.Match) -> str:
        value = m.group("value")
        if value == MASK or value.startswith(MASK):
            return m.group(0)
        return f"{m.group('name')}{m.group('sep')}{m.group('q')}{self._keep(value, m.group('name').lstrip('-'))}"

    def scrub(self, text: str) -> str:
        """Replace every value masked so far (longest first) wherever it appears."""
        for v in self.sorted_values():
            if v in text:
                text = text.replace(v, MASK)
        return text

    def sorted_values(self) -> list[str]:
        if self._sorted is None or self._sorted[0] != len(self.values):
            self._sorted = (len(self.values), sorted((v for v in self.values if scrubbable(v)), key=len, reverse=True))
        return self._sorted[1]

    # structures ---------------------------------------------------------------------------------------------------
    def env(self, env: Mapping[str, str], label: str = "env") -> dict[str, str]:
        return {k: (self._keep(v, f"{label} {k}") if is_secret_name(k) else self.text(v) if isinstance(v, str) else v)
                for k, v in env.items()}

    def argv(self, argv: Iterable[str]) -> list[str]:
        out: list[str] = []
        mask_next = None
        for arg in argv:
            if mask_next is not None:
                flag, mask_next = mask_next, None
                if not (arg.startswith("-") and not arg[1:2].isdigit()):  # `--no-auth --lr 3`: a flag, not a value
                    out.append(self._keep(arg, f"flag {flag}"))
                    continue
            m = _SECRET_FLAG.match(arg)
            if m:
                out.append(m.group(1) + "=" + self._keep(m.group(3), f"flag {m.group(1)}"))
            elif arg.startswith("-") and "=" not in arg and is_secret_name(arg.lstrip("-")):
                out.append(arg)
                mask_next = arg
            else:
                out.append(self.text(arg))
        return out

    def obj(self, obj: Any, path: str = "", secret: bool = False) -> Any:
        """Deep copy with secret-named keys' values masked (whole sub-trees too) and strings redacted as text."""
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                sub = f"{path}.{k}" if path else str(k)
                out[k] = self.obj(v, sub, secret or is_secret_name(str(k)))
            return out
        if isinstance(obj, (list, tuple)):
            return [self.obj(v, f"{path}[{i}]", secret) for i, v in enumerate(obj)]
        if secret and obj is not None and not isinstance(obj, bool):
            return self._keep(obj if isinstance(obj, str) else str(obj), f"config {path}" if path else None)
        if isinstance(obj, str):
            return self.text(obj)
        return obj

    def strings(self, obj: Any) -> Any:
        """Every string of a structure redacted as text; keys are not judged (a manifest's `keyring` is a package)."""
        if isinstance(obj, dict):
            return {k: self.strings(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.strings(v) for v in obj]
        return self.text(obj) if isinstance(obj, str) else obj

    def config_bytes(self, data: bytes) -> bytes:
        """A config file's copy: secret-named keys' values masked line by line, then every known value scrubbed."""
        text = data.decode("utf-8", "surrogateescape")
        text = _CONFIG_LINE.sub(lambda m: m.group("head") + m.group("q") + self._keep(m.group("value"))
                                + m.group("q") + m.group("tail"), text)
        text = _JSON_PAIR.sub(lambda m: m.group("head") + '"' + (self._keep(m.group("value")) if m.group("value")
                                                                 else "") + '"', text)
        return self.text(text).encode("utf-8", "surrogateescape")

    def patch_bytes(self, data: bytes) -> bytes:
        """git.patch: known values, URL passwords and token shapes masked; code is left as it is otherwise."""
        text = self._shapes(data.decode("utf-8", "surrogateescape"))
        return self.scrub(text).encode("utf-8", "surrogateescape")

    def scrub_obj(self, obj: Any) -> Any:
        return scrub(obj, self.sorted_values())


def secret_values(*envs: Mapping[str, str]) -> list[str]:
    """The values of secret-named variables, longest first, so they can be scrubbed from any text."""
    values = {v for env in envs for k, v in env.items() if is_secret_name(k) and v and scrubbable(v)}
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


def looks_secret_file(rel: str) -> bool:
    """Files secret by name: .env*, *credentials*, *.pem, *.key, id_rsa*, .netrc, *secret*."""
    name = rel.rsplit("/", 1)[-1].lower()
    return (name.startswith(".env") or "credential" in name or name.endswith((".pem", ".key", ".p12", ".pfx"))
            or name.startswith(("id_rsa", "id_ed25519", "id_ecdsa", "id_dsa")) or name in (".netrc", "_netrc", ".pgpass")
            or "secret" in name)


_CONTENT_ASSIGN = re.compile(r"(?im)^\s*(?:export\s+)?[\"']?(?:[A-Za-z_][\w.-]*)?" + _NAME_WORDS
                             + r"[\w.-]*[\"']?\s*[=:]\s*[\"']?(?P<value>[A-Za-z0-9+/_.~-]{16,})[\"']?\s*,?\s*$")


_CONTENT_FLAG = re.compile(r"(?i)(?<![\w.-])--?[\w.-]*" + _NAME_WORDS + r"[\w.-]*(?:[ \t]+|=)[\"']?"
                           r"(?P<value>[A-Za-z0-9+/_.~-]{16,})")


def looks_secret_content(text: str) -> bool:
    """Text holding a private key, a well-known token, a URL password, or a random-looking literal assigned to a
    secret name (`WANDB_API_KEY=0123abcd...`, `api_key: "9f8e..."`) or given to a secret flag (a command written
    down: `--api-key 9f8e...`)."""
    if "PRIVATE KEY-----" in text or _TOKEN_SHAPES.search(text) or _URL_CREDENTIALS_TEXT.search(text):
        return True
    for m in list(_CONTENT_ASSIGN.finditer(text)) + list(_CONTENT_FLAG.finditer(text)):
        value = m.group("value")
        # random-looking: long, letters and digits, not words joined by _ . - (`sort_key: val_loss_epoch_2`)
        if len(value) >= 16 and re.search(r"[0-9]", value) and re.search(r"[A-Za-z]", value) \
                and not re.fullmatch(r"[A-Za-z]+(?:[_.-][A-Za-z0-9]+)+", value):
            return True
    return False
