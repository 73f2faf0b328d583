"""conda / mamba / micromamba command construction, through the executable stand-in tests/fakes/conda/conda.

conda cannot be installed on the test machines. The stand-in, linked onto PATH under each tool's name,
records every argv and answers the calls expkit makes like conda does; `run -n ENV python probe.py` runs the
probe for real with this machine's python3, so `env verify`'s parsing is exercised end to end.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import run_expkit_cmd

STANDIN = Path(__file__).parent / "fakes" / "conda" / "conda"
ENV_YML = "name: toy\nchannels: [conda-forge]\ndependencies:\n  - python=3.11\n  - pytorch-cuda=12.1\n  - pip:\n    - wandb\n"


@pytest.fixture
def conda(tmp_path):
    def make(tool="conda"):
        bindir = tmp_path / "bin"
        bindir.mkdir(exist_ok=True)
        (bindir / tool).symlink_to(STANDIN)
        log = tmp_path / "argv.jsonl"
        env = {"PATH": f"{bindir}{os.pathsep}/usr/local/bin:/usr/bin:/bin", "FAKE_CONDA_ROOT": str(tmp_path / "root"),
               "FAKE_CONDA_LOG": str(log), "VIRTUAL_ENV": "", "CONDA_PREFIX": ""}

        def ex(*args, **extra):
            return run_expkit_cmd(*args, env={**env, **extra})

        def calls():
            lines = log.read_text().splitlines() if log.exists() else []
            return [[json.loads(x)["tool"], *json.loads(x)["argv"]] for x in lines]

        return ex, calls
    return make


@pytest.fixture
def project(tmp_path):
    p = tmp_path / "proj"
    p.mkdir()
    (p / "environment.yml").write_text(ENV_YML)
    return p


def test_conda_create_install_verify_commands(conda, project):
    ex, calls = conda("conda")
    r = ex("env", "create", "toy", "--manager", "conda", "--python", "3.10", "--path", project, "--json")
    assert r.returncode == 0, r
    assert r.json()["commands"] == ["conda create -y -n toy python=3.10"]
    r = ex("env", "create", "toy", "--manager", "conda", "--path", project, "--json")
    assert r.json()["existed"] is True and r.json()["commands"] == []
    r = ex("env", "install", project, "--with", "wandb", "--json")
    assert r.returncode == 0, r
    assert [s["command"] for s in r.json()["steps"]] == [
        "conda env update -n toy -f environment.yml",
        "conda run -n toy --no-capture-output python -m pip install wandb"]
    r = ex("env", "verify", "--path", project, "--json")
    assert r.json()["env"]["manager"] == "conda" and r.json()["python"]
    issued = [c for c in calls() if c[1:3] != ["env", "list"]]
    assert issued[0] == ["conda", "create", "-y", "-n", "toy", "python=3.10"]
    assert issued[-1][:6] == ["conda", "run", "-n", "toy", "--no-capture-output", "python"]
    assert issued[-1][6].endswith("expkit/envs/probe.py")


def test_micromamba_uses_its_own_spelling(conda, project):
    ex, calls = conda("micromamba")
    r = ex("env", "create", "toy", "--manager", "micromamba", "--python", "3.11", "--path", project)
    assert r.returncode == 0, r
    assert ex("env", "install", project).returncode == 0
    issued = [c for c in calls() if c[1:3] != ["env", "list"]]
    assert issued == [["micromamba", "create", "-y", "-n", "toy", "python=3.11", "-c", "conda-forge"],
                      ["micromamba", "install", "-y", "-n", "toy", "-f", "environment.yml"]]


def test_detect_lists_conda_envs_and_recommends_a_conda_manager(conda, project):
    ex, _ = conda("mamba")
    assert ex("env", "create", "other", "--manager", "mamba", "--path", project).returncode == 0
    (project / ".expkit" / "envs.json").unlink()  # forget it: detect must find it through `mamba env list`
    out = ex("env", "detect", project, "--json").json()
    assert out["managers"]["mamba"] is True and out["managers"]["conda"] is False
    assert [e["name"] for e in out["conda_envs"]] == ["base", "other"]
    rec = out["recommendation"]
    assert rec["manager"] == "mamba" and "environment.yml" in rec["why"]
    assert rec["install_plan"] == [f"mamba env update -n {project.name} -f environment.yml"]


def test_unknown_conda_env_is_listed_in_the_hint(conda, project):
    ex, _ = conda("conda")
    ex("env", "create", "toy", "--manager", "conda", "--path", project)
    r = ex("env", "verify", "--env", "missing", "--path", project)
    assert r.returncode == 2
    assert "error: no environment named 'missing'" in r.stderr
    assert "toy" in r.stderr and "base (conda)" in r.stderr


def test_conda_install_failure_names_the_package(conda, project):
    ex, _ = conda("conda")
    ex("env", "create", "toy", "--manager", "conda", "--path", project)
    r = ex("env", "install", project, "--json", FAKE_CONDA_FAIL="pytorch-cuda=12.1")
    assert r.returncode == 1, r
    assert r.json()["failed_requirement"] == "pytorch-cuda=12.1"
    assert "PackagesNotFoundError" in Path(r.json()["log"]).read_text()


def test_malformed_environment_yml_names_the_line(conda, project):
    ex, calls = conda("conda")
    (project / "environment.yml").write_text("name: toy\ndependencies:\n  - python=3.11\n - bad: [\n")
    r = ex("env", "install", project, "--env", "toy")
    assert r.returncode == 2 and "environment.yml:" in r.stderr and "malformed YAML" in r.stderr
    assert not any(c[1] in ("install", "create") or c[1:3] == ["env", "update"] for c in calls())


def test_conda_not_installed(tmp_path, project):
    r = run_expkit_cmd("env", "create", "toy", "--manager", "conda", "--path", project,
                       env={"PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "error: conda is not installed here" in r.stderr and "hint:" in r.stderr
