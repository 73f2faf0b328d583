"""Which Python the command will run under, and what is installed there.

Probed in a subprocess of *that* interpreter: expkit never imports torch or wandb itself. Versions come
from package metadata, and torch's CUDA version from torch/version.py read as text, so the probe costs
tens of milliseconds even when torch is installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

PACKAGES = ["torch", "numpy", "wandb", "transformers", "lightning", "pytorch-lightning", "accelerate",
            "jax", "jaxlib", "tensorflow", "keras", "datasets", "deepspeed", "scikit-learn"]

_PROBE = r"""
import json, platform, sys
from importlib import metadata
out = {"executable": sys.executable, "version": platform.python_version(),
       "implementation": platform.python_implementation(), "prefix": sys.prefix, "packages": {}}
for name in %(packages)r:
    try:
        out["packages"][name] = metadata.version(name)
    except Exception:
        pass
if "torch" in out["packages"]:
    try:
        text = metadata.distribution("torch").locate_file("torch/version.py").read_text()
        for line in text.splitlines():
            key, _, val = line.partition("=")
            key = key.strip().split(":")[0]
            if key in ("cuda", "hip", "git_version"):
                val = val.strip().strip("'\"")
                out["torch_" + key] = None if val in ("None", "") else val
    except Exception as exc:
        out["torch_version_error"] = str(exc)
print(json.dumps(out))
"""

_PYTHON_NAME = re.compile(r"^python(\d+(\.\d+)?)?$")


def _which(name: str, env: dict[str, str], cwd: Path) -> str | None:
    if os.sep in name:
        path = (cwd / name) if not os.path.isabs(name) else Path(name)
        return str(path) if path.exists() else None
    return shutil.which(name, path=env.get("PATH", os.defpath))


def _shebang(path: str) -> list[str] | None:
    try:
        with open(path, "rb") as fh:
            first = fh.readline(256)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    return first[2:].decode("utf-8", "replace").strip().split()


def resolve(argv: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """The interpreter the command will use: {path, how}."""
    exe = _which(argv[0], env, cwd)
    base = os.path.basename(argv[0])
    if exe and _PYTHON_NAME.match(base):
        return {"path": exe, "how": "the command is a Python interpreter"}
    if exe:
        bang = _shebang(exe)
        if bang:
            if os.path.basename(bang[0]) == "env" and len(bang) > 1:
                args = [a for a in bang[1:] if not a.startswith("-")]
                found = _which(args[0], env, cwd) if args else None
                if found and "python" in os.path.basename(found):
                    return {"path": found, "how": f"shebang of {exe}"}
            elif "python" in os.path.basename(bang[0]):
                return {"path": bang[0], "how": f"shebang of {exe}"}
    for name in ("python3", "python"):
        found = _which(name, env, cwd)
        if found:
            return {"path": found, "how": f"guessed: `{name}` on the run's PATH (the command is not a Python script)"}
    return {"path": None, "how": "no Python interpreter found on the run's PATH"}


def start_probe(python: str, env: dict[str, str], cwd: Path) -> subprocess.Popen | None:
    """Start the probe; call finish_probe() later so it overlaps other capture work."""
    try:
        return subprocess.Popen([python, "-c", _PROBE % {"packages": PACKAGES}], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError:
        return None


def finish_probe(proc: subprocess.Popen | None, resolved: dict[str, Any], timeout: float = 20) -> dict[str, Any]:
    info: dict[str, Any] = {"resolved_from": resolved["how"], "requested": resolved["path"]}
    if proc is None:
        info["probe_error"] = f"could not start {resolved['path']}"
        return info
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        info["probe_error"] = f"probe timed out after {timeout:.0f}s"
        return info
    if proc.returncode != 0:
        lines = err.decode("utf-8", "replace").strip().splitlines()
        info["probe_error"] = lines[-1] if lines else "probe failed"
        return info
    info.update(json.loads(out))
    return info
