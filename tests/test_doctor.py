"""`expkit doctor` against real git repos and real virtualenvs; GPUs through the NVML stand-in where a GPU is
needed (tests/fakes/pynvml: no GPU exists on the test machines)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import HELPERS, git
from expkit.hardware.gpus import driver_present

FAKES = Path(__file__).parent / "fakes"
NO_ACTIVE = {"VIRTUAL_ENV": "", "CONDA_PREFIX": ""}
HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory):
    """A real venv with nothing in it (no pip needed: doctor only runs python there)."""
    path = tmp_path_factory.mktemp("doctor") / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", path], check=True)
    return path


def checks(result) -> dict:
    return {c["check"]: c for c in result.json()["checks"]}


def test_every_check_is_reported_with_a_fix_for_failures(expkit, git_repo, bare_venv):
    r = expkit("doctor", "--env", bare_venv, "--json", cwd=git_repo, env=NO_ACTIVE)
    assert r.returncode == 1, r  # torch missing in the target env is a failure
    c = checks(r)
    assert list(c) == ["git", "gpus", "disk", "environment", "torch/cuda", "wandb"]
    assert c["git"]["status"] == "pass" and "clean" in c["git"]["detail"]
    assert c["environment"]["status"] == "pass" and "venv env" in c["environment"]["detail"]
    assert c["torch/cuda"]["status"] == "fail" and c["torch/cuda"]["fix"].startswith("expkit env install --with torch")
    assert c["wandb"]["status"] == "warn" and c["wandb"]["fix"] == "expkit env install --with wandb"
    assert c["disk"]["status"] == "pass" and str(git_repo / "runs") in c["disk"]["detail"]
    assert all(x["fix"] for x in c.values() if x["status"] == "fail")
    text = expkit("doctor", "--env", bare_venv, cwd=git_repo, env=NO_ACTIVE)
    assert "[FAIL] torch/cuda" in text.stdout and "fix: expkit env install --with torch" in text.stdout
    assert "error: pre-flight failed: torch/cuda" in text.stderr


def test_dirty_tree_and_no_env_are_warnings_not_failures(expkit, git_repo):
    (git_repo / "train.py").write_text("print('changed')\n")
    r = expkit("doctor", "--json", cwd=git_repo, env=NO_ACTIVE)
    assert r.returncode == 0, r
    c = checks(r)
    assert c["git"]["status"] == "warn" and "1 changed" in c["git"]["detail"]
    assert c["environment"]["status"] == "warn" and "expkit env create" in c["environment"]["fix"]
    assert r.json()["status"] == "warn"


def test_unknown_env_fails(expkit, git_repo):
    r = expkit("doctor", "--env", "nope", "--json", cwd=git_repo, env=NO_ACTIVE)
    assert r.returncode == 1
    assert checks(r)["environment"]["status"] == "fail" and "no environment named 'nope'" in checks(r)["environment"]["detail"]


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed in the test interpreter's env")
@pytest.mark.skipif(driver_present(), reason="this machine has an NVIDIA driver")
def test_cpu_torch_without_gpu_warns_and_with_gpus_fails(expkit, git_repo, tmp_path):
    """The test interpreter's own env (torch CPU build) as the target env, checked from inside it."""
    r = expkit("doctor", "--env", sys.prefix, "--json", cwd=git_repo, env=NO_ACTIVE)
    c = checks(r)
    assert c["torch/cuda"]["status"] == "warn" and "CPU-only" in c["torch/cuda"]["detail"]
    state = tmp_path / "nvml.json"
    state.write_text(json.dumps({"devices": [{"name": "NVIDIA L4", "uuid": "GPU-1", "memory_used_mib": 0}]}))
    gpu_env = {**NO_ACTIVE, "PYTHONPATH": f"{HELPERS}{os.pathsep}{FAKES}", "FAKE_NVML_STATE": str(state),
               "EXPKIT_NVML_ALWAYS": "1"}
    r = expkit("doctor", "--env", sys.prefix, "--json", cwd=git_repo, env=gpu_env)
    assert r.returncode == 1, r
    c = checks(r)
    assert c["gpus"]["status"] == "pass" and "1 GPU(s), 1 free" in c["gpus"]["detail"]
    assert c["torch/cuda"]["status"] == "fail" and "CPU-only build" in c["torch/cuda"]["detail"]
    assert c["wandb"]["status"] == "pass" and "offline" in c["wandb"]["detail"]  # tests run with WANDB_MODE=offline


def test_not_a_git_repo_warns(expkit, tmp_path, bare_venv):
    r = expkit("doctor", "--env", bare_venv, "--json", cwd=tmp_path, env=NO_ACTIVE)
    assert checks(r)["git"]["status"] == "warn" and "git init" in checks(r)["git"]["fix"]
