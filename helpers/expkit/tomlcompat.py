"""TOML reading on every Python expkit supports: tomllib from 3.11, the tomli backport on 3.10."""

try:
    import tomllib  # novermin: the 3.10 fallback is below
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

loads = tomllib.loads
TOMLDecodeError = tomllib.TOMLDecodeError
