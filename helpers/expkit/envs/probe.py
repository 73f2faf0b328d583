"""Runs INSIDE the target environment (by path, with that env's python): reports what torch and wandb see there.

Standalone on purpose: it imports nothing from expkit, which is not installed in the target env.
Prints one JSON object on its last line. Never prints a secret: only whether one is set.
"""

import json
import os
import platform
import sys
import warnings


def torch_facts():
    try:
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            return {"installed": False}
    except Exception:
        return {"installed": False}
    out = {"installed": True}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            import torch
        except Exception as exc:  # a broken install (missing shared library, ABI mismatch)
            return {"installed": True, "import_error": f"{type(exc).__name__}: {exc}"}
        out["version"] = torch.__version__
        out["cuda_build"] = torch.version.cuda
        out["hip_build"] = getattr(torch.version, "hip", None)
        out["cuda_available"] = bool(torch.cuda.is_available())
        out["device_count"] = torch.cuda.device_count() if out["cuda_available"] else 0
        out["devices"] = [torch.cuda.get_device_name(i) for i in range(out["device_count"])]
        try:
            out["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        except Exception:
            out["cudnn"] = None
        out["mps_available"] = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    out["warnings"] = [str(w.message).strip()[:500] for w in caught if "cuda" in str(w.message).lower()]
    return out


def wandb_facts():
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("wandb")
        except PackageNotFoundError:
            v = None
    except Exception:
        v = None
    mode = (os.environ.get("WANDB_MODE") or "").lower() or None
    if os.environ.get("WANDB_DISABLED", "").lower() in ("1", "true", "yes"):
        mode = "disabled"
    key_source = None
    if os.environ.get("WANDB_API_KEY"):
        key_source = "WANDB_API_KEY"
    else:
        try:
            import netrc

            path = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
            host = (os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").split("://")[-1].split("/")[0]
            if os.path.exists(path) and netrc.netrc(path).authenticators(host):
                key_source = path
        except Exception:
            pass
    return {"installed": v is not None, "version": v, "mode": mode, "logged_in": key_source is not None,
            "key_source": key_source}


def main():
    facts = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "torch": torch_facts(),
        "wandb": wandb_facts(),
    }
    sys.stdout.write("\n" + json.dumps(facts) + "\n")


if __name__ == "__main__":
    main()
