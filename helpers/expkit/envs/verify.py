"""`env verify`: run probe.py with the target env's python and explain, in words, why CUDA is or is not usable."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from expkit.envs import managers as mg, record
from expkit.errors import ExpkitError, Failure

PROBE = Path(__file__).with_name("probe.py")


def verify(project: Path, env_name: str | None, timeout: float = 300) -> dict[str, Any]:
    """Facts from inside the env plus `cuda_reason` (None when CUDA works) and `ok` (python runs, torch imports)."""
    project = Path(project).resolve()
    env = record.resolve(project, env_name)
    m = mg.get(env.manager)
    if not m.exists(env):
        raise ExpkitError(f"the {env.manager} env '{env.name}' does not exist",
                          f"create it: expkit env create {env.name} --manager {env.manager}")
    argv = [*m.python_argv(env), str(PROBE)]
    try:
        proc = subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise Failure(f"cannot run python in env '{env.name}': {exc.strerror}", f"tried: {' '.join(argv)}") from None
    except subprocess.TimeoutExpired:
        raise Failure(f"the check inside env '{env.name}' did not finish in {timeout:.0f}s",
                      "importing torch hung: check the env by hand with `python -c 'import torch'`") from None
    facts = _last_json(proc.stdout)
    if proc.returncode != 0 or facts is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise Failure(f"the check inside env '{env.name}' failed (exit {proc.returncode}): {' | '.join(tail)}",
                      f"run it by hand: {' '.join(argv)}")
    from expkit.hardware.gpus import list_gpus

    torch = facts["torch"]
    facts["env"] = env.to_json()
    facts["command"] = " ".join(argv)
    facts["cuda_reason"] = cuda_reason(torch, facts.get("cuda_visible_devices"), list_gpus())
    facts["ok"] = bool(torch.get("installed")) and "import_error" not in torch
    return facts


def cuda_reason(torch: dict[str, Any], visible: str | None, gpus: dict[str, Any]) -> str | None:
    """Why torch cannot use CUDA, in words a researcher can act on; None when it can."""
    if not torch.get("installed"):
        return "torch is not installed in this environment: `expkit env install --with torch==<version>`"
    if torch.get("import_error"):
        return f"torch is installed but does not import ({torch['import_error']}): reinstall it"
    if torch.get("cuda_available"):
        return None
    build = torch.get("cuda_build")
    if not build:
        what = "a ROCm" if torch.get("hip_build") else "a CPU-only"
        return (f"torch {torch.get('version')} is {what} build (torch.version.cuda is None): it can never use an "
                f"NVIDIA GPU; install a CUDA build of torch (a +cuXXX wheel matching the driver)")
    if visible is not None and visible.strip() in ("", "-1"):
        return f"CUDA_VISIBLE_DEVICES is set to '{visible}', which hides every GPU: unset it or launch with --gpus 0"
    if not gpus.get("devices"):
        return f"no GPU on this machine ({gpus.get('reason')}): torch {torch.get('version')} is a CUDA {build} build"
    driver_cuda = gpus.get("cuda_driver")
    if driver_cuda and _ver(driver_cuda) < _ver(build):
        return (f"the NVIDIA driver {gpus.get('driver')} supports CUDA up to {driver_cuda}, but torch was built with "
                f"CUDA {build}: update the driver, or install a torch built for CUDA {driver_cuda} or older")
    said = "; ".join(torch.get("warnings") or [])
    return f"torch reports CUDA unavailable{': ' + said if said else ''} (driver {gpus.get('driver')})"


def _ver(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in str(text).split(".")[:2] if x.isdigit())


def _last_json(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            data = json.loads(line)
            if isinstance(data, dict):
                return data
        except ValueError:
            continue
    return None
