"""`expkit env` with the real uv binary (`pip install uv` provides it): create, install a local package, verify.

Skipped, with the reason, when uv is neither on PATH nor beside this interpreter.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_expkit_cmd

FIX = Path(__file__).parent / "fixtures" / "envs"
UV = shutil.which("uv") or (str(Path(sys.executable).parent / "uv") if (Path(sys.executable).parent / "uv").exists() else None)
pytestmark = pytest.mark.skipif(UV is None, reason="uv is not installed (CI: pip install uv)")


def ex(*args):
    path = f"{Path(UV).parent}{os.pathsep}{os.environ['PATH']}"
    return run_expkit_cmd(*args, env={"VIRTUAL_ENV": "", "CONDA_PREFIX": "", "PATH": path}, timeout=600)


@pytest.fixture(scope="module")
def proj(tmp_path_factory):
    root = tmp_path_factory.mktemp("uv") / "tinyproj"
    shutil.copytree(FIX / "tinyproj", root)
    created = ex("env", "create", ".venv", "--manager", "uv", "--python", f"{sys.version_info.major}.{sys.version_info.minor}",
                 "--path", root, "--json")
    assert created.returncode == 0, created
    return root, created.json()


def test_uv_creates_a_venv_and_is_idempotent(proj):
    root, created = proj
    assert created["created"] is True and created["commands"][0].startswith("uv venv --python ")
    assert "uv =" in (root / ".venv" / "pyvenv.cfg").read_text()  # made by uv, not by python -m venv
    again = ex("env", "create", ".venv", "--manager", "uv", "--path", root, "--json")
    assert again.returncode == 0 and again.json()["existed"] is True


def test_uv_installs_with_uv_pip_and_verify_runs_inside(proj):
    root, _ = proj
    r = ex("env", "install", root, "--json")
    assert r.returncode == 0, r
    py = root / ".venv" / "bin" / "python"
    assert [s["command"] for s in r.json()["steps"]] == [f"uv pip install --python {py} -r requirements.txt"]
    assert subprocess.run([py, "-c", "import tinypkg; print(tinypkg.VALUE)"], capture_output=True,
                          text=True).stdout.strip() == "42"
    v = ex("env", "verify", "--path", root, "--json")
    assert v.returncode == 1 and v.json()["env"]["manager"] == "uv"
    assert v.json()["executable"] == str(py) and v.json()["torch"] == {"installed": False}
    record = json.loads((root / ".expkit" / "envs.json").read_text())
    assert record["envs"][".venv"]["manager"] == "uv"


def test_detect_recommends_uv_when_present(proj):
    root, _ = proj
    r = ex("env", "detect", root, "--json")
    assert r.returncode == 0, r
    out = r.json()
    assert out["managers"]["uv"] is True
    assert out["recommendation"]["manager"] == "uv"  # the recorded env
    assert out["recommendation"]["create"] is None


def test_force_recreates(proj, tmp_path):
    root, _ = proj
    other = tmp_path / "p"
    other.mkdir()
    assert ex("env", "create", "e", "--manager", "uv", "--path", other).returncode == 0
    marker = other / "e" / "marker"
    marker.write_text("old env")
    r = ex("env", "create", "e", "--manager", "uv", "--path", other, "--force", "--json")
    assert r.returncode == 0 and r.json()["created"] is True
    assert not marker.exists() and (other / "e" / "bin" / "python").exists()


def test_uv_lock_project_is_installed_with_uv_sync(tmp_path):
    """A project locked with the real `uv lock`: install runs `uv sync --frozen` into the chosen env."""
    root = tmp_path / "locked"
    root.mkdir()
    shutil.copytree(FIX / "tinyproj" / "tinypkg", root / "tinypkg")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "lockedproj"\nversion = "0.1.0"\nrequires-python = ">=3.10"\ndependencies = ["tinypkg"]\n\n'
        '[tool.uv.sources]\ntinypkg = { path = "tinypkg" }\n')
    subprocess.run([UV, "lock"], cwd=root, check=True, capture_output=True)
    assert ex("env", "create", "envs/locked", "--manager", "uv", "--path", root).returncode == 0
    detect = ex("env", "detect", root, "--json").json()
    assert detect["dependency_files"][0]["uv_lock"] is True
    r = ex("env", "install", root, "--json")
    assert r.returncode == 0, r
    env_path = root / "envs" / "locked"
    assert [s["command"] for s in r.json()["steps"]] == [f"UV_PROJECT_ENVIRONMENT={env_path} uv sync --frozen"]
    assert subprocess.run([env_path / "bin" / "python", "-c", "import tinypkg; print(tinypkg.VALUE)"],
                          capture_output=True, text=True).stdout.strip() == "42"
    assert not (root / ".venv").exists()  # synced into the chosen env, not uv's default
