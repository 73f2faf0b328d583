"""`expkit env detect`: dependency files in priority order, validation with file and line, the recommendation."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_expkit_cmd
from expkit.envs.depfiles import check_requirements, find
from expkit.errors import ExpkitError
from expkit.envs.ops import failing_requirement, recommend

NO_TOOLS = {"PATH": "/usr/bin:/bin", "VIRTUAL_ENV": "", "CONDA_PREFIX": ""}


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_priority_order_extras_and_uv_lock(tmp_path):
    write(tmp_path, {
        "Pipfile": "[packages]\nnumpy = '*'\n",
        "environment.yml": "dependencies:\n  - python=3.11\n",
        "setup.py": "from setuptools import setup\nsetup()\n",
        "pyproject.toml": "[project]\nname='x'\nversion='0'\n[project.optional-dependencies]\ndev=['pytest']\ngpu=['cupy']\n",
        "uv.lock": "version = 1\n",
        "requirements-dev.txt": "pytest\n",
        "requirements.txt": "torch==2.4.0\nnumpy>=1.26,<3 ; python_version >= '3.10'\n-e .\ngit+https://example.org/x.git\n",
    })
    files = find(tmp_path)
    assert [f.path for f in files] == ["requirements-dev.txt", "requirements.txt", "pyproject.toml", "setup.py",
                                       "environment.yml", "Pipfile"]
    pyproject = files[2]
    assert pyproject.extras == ["dev", "gpu"] and pyproject.uv_lock and pyproject.installable


def test_detect_cli_recommends_venv_without_uv_or_conda(tmp_path):
    write(tmp_path, {"requirements.txt": "numpy\n", "setup.py": "from setuptools import setup\nsetup()\n"})
    r = run_expkit_cmd("env", "detect", tmp_path, "--json", env=NO_TOOLS)
    assert r.returncode == 0, r
    out = r.json()
    assert out["active_env"] is None and out["managers"]["venv"] is True and out["managers"]["conda"] is False
    rec = out["recommendation"]
    assert rec["manager"] == "venv" and rec["create"] == "expkit env create .venv --manager venv"
    py = tmp_path.resolve() / ".venv" / "bin" / "python"
    assert rec["install_plan"] == [f"{py} -m pip install -r requirements.txt", f"{py} -m pip install -e ."]
    text = run_expkit_cmd("env", "detect", tmp_path, env=NO_TOOLS).stdout
    assert "recommended: venv env '.venv'" in text


def test_recommendation_rules():
    from expkit.envs.depfiles import DepFile

    conda_file, locked = DepFile("conda", "environment.yml"), DepFile("pyproject", "pyproject.toml", uv_lock=True)
    assert recommend([conda_file], {"conda": True, "uv": True})[0] == "conda"
    assert recommend([conda_file], {"mamba": True, "conda": True})[0] == "mamba"
    assert recommend([locked], {"uv": True, "conda": True})[0] == "uv"
    manager, why = recommend([conda_file], {"venv": True})
    assert manager == "venv" and "only its pip section" in why


def test_active_venv_is_reported(tmp_path):
    venv = tmp_path / "myenv"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\nuv = 0.5.0\n")
    (tmp_path / "requirements.txt").write_text("numpy\n")
    r = run_expkit_cmd("env", "detect", tmp_path, "--json", env={**NO_TOOLS, "VIRTUAL_ENV": str(venv)})
    assert r.json()["active_env"] == {"manager": "uv", "name": "myenv", "path": str(venv)}
    rec = r.json()["recommendation"]  # the env the researcher works in is the target: nothing to create
    assert rec["env"] == "myenv" and rec["create"] is None and "active uv env" in rec["why"]
    assert rec["install_plan"] == [f"uv pip install --python {venv / 'bin' / 'python'} -r requirements.txt"]


def test_malformed_pyproject_names_file_and_line(tmp_path):
    write(tmp_path, {"pyproject.toml": "[project]\nname = 'x'\nversion = \n"})
    r = run_expkit_cmd("env", "detect", tmp_path, env=NO_TOOLS)
    assert r.returncode == 2
    assert f"error: {tmp_path / 'pyproject.toml'}:3: malformed TOML" in r.stderr
    assert "hint: fix pyproject.toml at that line; nothing was installed" in r.stderr


def test_environment_yml_that_is_not_a_mapping(tmp_path):
    write(tmp_path, {"environment.yml": "- just\n- a list\n"})
    r = run_expkit_cmd("env", "detect", tmp_path, env=NO_TOOLS)
    assert r.returncode == 2 and "not a conda environment file" in r.stderr


def test_pipfile_only_is_reported_by_detect_and_refused_by_install(tmp_path):
    write(tmp_path, {"Pipfile": "[packages]\nnumpy = '*'\n"})
    r = run_expkit_cmd("env", "detect", tmp_path, "--json", env=NO_TOOLS)
    assert r.returncode == 0 and r.json()["recommendation"]["install_plan"] == []
    assert "pipenv requirements > requirements.txt" in r.json()["notes"][0]
    (tmp_path / "e" / "bin").mkdir(parents=True)
    (tmp_path / "e" / "bin" / "python").symlink_to("/usr/bin/python3")
    r = run_expkit_cmd("env", "install", "--env", "e", tmp_path, env=NO_TOOLS)
    assert r.returncode == 2 and "only a Pipfile" in r.stderr and "pipenv requirements" in r.stderr
    assert not (tmp_path / ".expkit").exists()


def test_path_that_does_not_exist_or_is_a_file(tmp_path):
    r = run_expkit_cmd("env", "detect", tmp_path / "nope", env=NO_TOOLS)
    assert r.returncode == 2 and "error: no such directory" in r.stderr and "hint:" in r.stderr
    (tmp_path / "f.txt").write_text("x")
    r = run_expkit_cmd("env", "detect", tmp_path / "f.txt", env=NO_TOOLS)
    assert r.returncode == 2 and "not a directory" in r.stderr


def test_failing_requirement_from_real_tool_messages():
    pip = ("ERROR: Could not find a version that satisfies the requirement torch==9.9 (from versions: 2.4.0)\n"
           "ERROR: No matching distribution found for torch==9.9\n")
    assert failing_requirement(pip) == "torch==9.9"
    uv = "  × No solution found when resolving dependencies:\n  ╰─▶ Because nosuchpkg was not found in the package registry and you require nosuchpkg, ...\n"
    assert failing_requirement(uv) == "nosuchpkg"
    assert failing_requirement("nothing useful") is None


def test_requirement_lines_researchers_write_are_accepted(tmp_path):
    text = ("--extra-index-url https://example.org/simple\n-r base.txt\n-e ./libs/mylib\n"
            "torch==2.4.0+cu121\nnumpy>=1.26,<3  # pinned below 3\nJinja2\ntensorflow~=2.15.0\n"
            "accelerate[deepspeed]>=0.30 ; sys_platform == 'linux'\nmylib @ https://example.org/mylib-1.0.tar.gz\n"
            "einops==0.8.0 \\\n    --hash=sha256:abc \\\n    --hash=sha256:def\n./vendored/pkg\n")
    check_requirements(tmp_path / "requirements.txt", text)  # raises on any line it rejects


def test_bad_requirement_after_a_continuation_names_its_first_line(tmp_path):
    with pytest.raises(ExpkitError) as err:
        check_requirements(tmp_path / "r.txt", "einops==0.8.0 \\\n    --hash=sha256:abc\nnot valid!\n")
    assert err.value.message.startswith(f"{tmp_path / 'r.txt'}:3: not a valid requirement: 'not valid!'")


# --- environments that are not active (real venvs made with `python -m venv`) --------------------------------

def _venv(path: Path) -> Path:
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    return path


def _by_name(out: dict) -> dict:
    return {e["name"]: e for e in out["environments"]}


def test_lists_project_venvs_and_the_active_one_with_their_interpreters(tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    _venv(project / ".venv")
    _venv(project / "venv")
    elsewhere = _venv(tmp_path / "shared-env")
    r = run_expkit_cmd("env", "detect", project, "--json", env={**NO_TOOLS, "VIRTUAL_ENV": str(elsewhere)})
    assert r.returncode == 0, r
    envs = _by_name(r.json())
    assert set(envs) == {".venv", "venv", "shared-env"}
    assert envs[".venv"]["python"] == str(project.resolve() / ".venv" / "bin" / "python")
    assert envs[".venv"]["where"] == "project" and envs[".venv"]["exists"] and not envs[".venv"]["active"]
    assert envs["shared-env"]["active"] and envs["shared-env"]["where"] == "active"
    assert envs[".venv"]["python_version"].startswith("3.")
    assert r.json()["recommendation"]["env"] == "shared-env"  # the env the user works in now


def test_recommends_the_projects_venv_when_nothing_is_active(tmp_path):
    """The reported defect: a project's .venv that no shell has activated was not offered at all."""
    project = tmp_path / "proj"
    project.mkdir()
    _venv(project / ".venv")
    r = run_expkit_cmd("env", "detect", project, "--json", env=NO_TOOLS)
    rec = r.json()["recommendation"]
    assert rec["env"] == ".venv" and rec["create"] is None
    assert rec["python"] == str(project.resolve() / ".venv" / "bin" / "python")
    assert "not active" in rec["why"]
    text = run_expkit_cmd("env", "detect", project, env=NO_TOOLS).stdout
    assert "* .venv" in text and "(recommended)" in text and f"python: {rec['python']}" in text


def test_a_venv_folder_named_venv_is_found_too(tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    _venv(project / "venv")
    rec = run_expkit_cmd("env", "detect", project, "--json", env=NO_TOOLS).json()["recommendation"]
    assert rec["env"] == "venv" and rec["python"].endswith("/proj/venv/bin/python")


def test_uv_project_without_its_env_yet(tmp_path):
    project = write(tmp_path, {"pyproject.toml": "[project]\nname='x'\nversion='0'\n", "uv.lock": "version = 1\n"})
    import shutil as sh

    uv_dir = str(Path(sh.which("uv") or "/nonexistent").parent)
    out = run_expkit_cmd("env", "detect", project, "--json", env={**NO_TOOLS, "PATH": f"{uv_dir}:/usr/bin:/bin"}).json()
    uv_env = _by_name(out)[".venv"]
    assert uv_env["kind"] == "uv" and uv_env["exists"] is False and "uv sync" in uv_env["note"]
    assert out["recommendation"]["manager"] == "uv" and uv_env["recommended"]


def test_conda_envs_are_listed_with_their_interpreter_and_one_named_after_the_project_wins(tmp_path):
    """conda cannot be installed here: tests/fakes/conda/conda stands in for the binary (a boundary), answering
    `conda env list --json` from folders under $FAKE_CONDA_ROOT."""
    import os

    standin = Path(__file__).parent / "fakes" / "conda" / "conda"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "conda").symlink_to(standin)
    root = tmp_path / "root"
    for name in ("myproj", "other"):
        (root / "envs" / name / "conda-meta").mkdir(parents=True)
    project = tmp_path / "myproj"
    project.mkdir()
    env = {**NO_TOOLS, "PATH": f"{bindir}{os.pathsep}/usr/bin:/bin", "FAKE_CONDA_ROOT": str(root)}
    out = run_expkit_cmd("env", "detect", project, "--json", env=env).json()
    envs = _by_name(out)
    assert envs["myproj"]["kind"] == "conda" and envs["myproj"]["python"] == str(root / "envs" / "myproj" / "bin" / "python")
    assert {"base", "other"} <= set(envs)
    assert out["recommendation"]["env"] == "myproj" and out["recommendation"]["manager"] == "conda"
