"""`expkit env detect`: dependency files in priority order, validation with file and line, the recommendation."""

from __future__ import annotations

from pathlib import Path

from conftest import run_expkit_cmd
from expkit.envs.depfiles import find
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
    r = run_expkit_cmd("env", "detect", tmp_path, "--json", env={**NO_TOOLS, "VIRTUAL_ENV": str(venv)})
    assert r.json()["active_env"] == {"manager": "uv", "name": "myenv", "path": str(venv)}


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
