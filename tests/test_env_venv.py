"""`expkit env create/install/verify` with real virtualenvs (python -m venv) and real pip installs.

One venv is shared by the module's tests (creating one costs seconds). The installed package is a tiny local
one from tests/fixtures/envs; pip fetches only its build backend.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import run_expkit_cmd

FIX = Path(__file__).parent / "fixtures" / "envs"
NO_ACTIVE = {"VIRTUAL_ENV": "", "CONDA_PREFIX": ""}


def ex(*args, **kw):
    return run_expkit_cmd(*args, env={**NO_ACTIVE, **kw.pop("env", {})}, timeout=600, **kw)


@pytest.fixture(scope="module")
def proj(tmp_path_factory):
    """tinyproj copied to a temp dir, with a real .venv created and the project installed into it."""
    root = tmp_path_factory.mktemp("venv") / "tinyproj"
    shutil.copytree(FIX / "tinyproj", root)
    created = ex("env", "create", ".venv", "--manager", "venv", "--path", root, "--json")
    assert created.returncode == 0, created
    installed = ex("env", "install", root, "--json")
    assert installed.returncode == 0, installed
    return {"root": root, "created": created.json(), "installed": installed.json()}


def test_create_makes_a_real_venv_and_remembers_it(proj):
    root = proj["root"]
    assert proj["created"]["created"] is True
    assert proj["created"]["env"] == {"name": ".venv", "manager": "venv", "path": str(root / ".venv")}
    assert (root / ".venv" / "pyvenv.cfg").is_file()
    record = json.loads((root / ".expkit" / "envs.json").read_text())
    assert record["default"] == ".venv" and record["envs"][".venv"]["manager"] == "venv"
    assert (root / ".expkit" / ".gitignore").read_text().strip().endswith("*")


def test_create_is_idempotent(proj):
    venv_cfg = proj["root"] / ".venv" / "pyvenv.cfg"
    before = venv_cfg.stat().st_mtime_ns
    r = ex("env", "create", ".venv", "--manager", "venv", "--path", proj["root"], "--json")
    assert r.returncode == 0, r
    assert r.json()["existed"] is True and r.json()["created"] is False and r.json()["commands"] == []
    assert venv_cfg.stat().st_mtime_ns == before
    r = ex("env", "create", ".venv", "--manager", "venv", "--path", proj["root"])
    assert "already exists" in r.stdout and "--force" in r.stdout


def test_install_ran_pip_into_the_venv_and_recorded_it(proj):
    root, out = proj["root"], proj["installed"]
    assert out["ok"] is True
    assert [s["command"] for s in out["steps"]] == [f"{root / '.venv' / 'bin' / 'python'} -m pip install -r requirements.txt"]
    done = subprocess.run([root / ".venv" / "bin" / "python", "-c", "import tinypkg; print(tinypkg.VALUE)"],
                          capture_output=True, text=True)
    assert done.stdout.strip() == "42"
    log = Path(out["log"]).read_text()
    assert log.startswith("$ ") and "Successfully installed tinypkg-0.1.0" in log
    record = json.loads((root / ".expkit" / "envs.json").read_text())
    assert record["envs"][".venv"]["installs"][-1]["commands"] == [s["command"] for s in out["steps"]]


def test_verify_runs_inside_the_venv_and_says_torch_is_missing(proj):
    r = ex("env", "verify", "--path", proj["root"], "--json")
    assert r.returncode == 1, r  # the env cannot train: exit 1, and says why
    out = r.json()
    assert out["executable"] == str(proj["root"] / ".venv" / "bin" / "python")
    assert out["prefix"] == str(proj["root"] / ".venv")
    assert out["torch"] == {"installed": False}
    assert out["cuda_reason"].startswith("torch is not installed in this environment")
    assert out["wandb"]["installed"] is False
    text = ex("env", "verify", "--path", proj["root"])
    assert "torch:   not installed" in text.stdout and "error: torch is not usable" in text.stderr


def test_unknown_env_lists_the_existing_ones(proj):
    r = ex("env", "verify", "--env", "nope", "--path", proj["root"])
    assert r.returncode == 2
    assert "error: no environment named 'nope'" in r.stderr
    assert "hint: existing environments: .venv" in r.stderr


def test_malformed_requirements_name_file_and_line_and_install_nothing(proj, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "requirements.txt").write_text("numpy>=1.26\ntorch = = 2\n")
    r = ex("env", "install", "--env", str(proj["root"] / ".venv"), bad)
    assert r.returncode == 2
    assert f"error: {bad / 'requirements.txt'}:2: not a valid requirement: 'torch = = 2'" in r.stderr
    assert "nothing was installed" in r.stderr and "Traceback" not in r.stderr
    assert not (bad / ".expkit").exists()


def test_failing_install_names_the_requirement_and_keeps_the_log(proj, tmp_path):
    broken = tmp_path / "brokenproj"
    shutil.copytree(FIX / "brokenproj", broken)
    r = ex("env", "install", "--env", str(proj["root"] / ".venv"), broken, "--json")
    assert r.returncode == 1, r
    out = r.json()
    assert out["ok"] is False and out["failed_requirement"] == "./brokenpkg"
    assert "install failed on ./brokenpkg" in r.stderr
    log = Path(out["log"])
    assert log.parent == broken / ".expkit" and "needs a compiler" in log.read_text()
    assert f"the full log is kept at {log}" in r.stderr


def test_missing_project_path(tmp_path):
    r = ex("env", "install", tmp_path / "nope")
    assert r.returncode == 2 and "error: no such directory" in r.stderr and "hint:" in r.stderr


@pytest.mark.slow
def test_verify_reports_a_cpu_only_torch_build_and_why(tmp_path_factory):
    """A real venv with torch 2.13.0 CPU (from the machine's local wheel cache): verify explains why CUDA is
    unavailable from what torch says inside that env."""
    root = tmp_path_factory.mktemp("torchenv")
    assert ex("env", "create", "tv", "--manager", "venv", "--path", root).returncode == 0
    r = ex("env", "install", root, "--with", "torch==2.13.0")
    if r.returncode != 0:
        pytest.skip(f"torch==2.13.0 could not be installed here: {r.stderr.strip()[-300:]}")
    r = ex("env", "verify", "--path", root, "--json")
    assert r.returncode == 0, r
    t = r.json()["torch"]
    assert t["version"].startswith("2.13.0") and t["cuda_build"] is None and t["cuda_available"] is False
    assert "CPU-only build" in r.json()["cuda_reason"] and "torch.version.cuda is None" in r.json()["cuda_reason"]
    text = ex("env", "verify", "--path", root)
    assert "(CPU-only build)" in text.stdout and "why:" in text.stdout


def test_verify_never_imports_torch_or_wandb_in_expkits_process(proj):
    """-X importtime lists every module the expkit process imports; the probe's own imports stay in the env."""
    r = ex("env", "verify", "--path", proj["root"], "--json", env={"PYTHONPROFILEIMPORTTIME": "1"})
    imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert "expkit.envs.verify" in imported
    assert not {m for m in imported if m.split(".")[0] in ("torch", "wandb")}
