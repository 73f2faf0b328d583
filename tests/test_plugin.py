"""The plugin as Claude Code sees it: manifests, the real validator, and the bin/expkit launcher."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

CLAUDE_CODE_VERSION = "2.1.330"


def test_manifests_agree():
    plugin = json.loads((ROOT / ".claude-plugin" / "plugin.json").read_text())
    market = json.loads((ROOT / ".claude-plugin" / "marketplace.json").read_text())
    import expkit

    assert plugin["name"] == "expkit" and plugin["version"] == expkit.__version__
    for key in ("description", "author", "repository", "license", "keywords"):
        assert plugin[key]
    assert market["plugins"][0]["name"] == "expkit" and market["plugins"][0]["source"] == "./"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{expkit.__version__}"' in pyproject


@pytest.fixture(scope="session")
def claude_cli(tmp_path_factory):
    """The real Claude Code CLI from npm, pinned; installed once per test session (works offline after)."""
    import fcntl

    unavailable = pytest.fail if os.environ.get("CI") else pytest.skip  # CI must really validate
    if not shutil.which("npm"):
        unavailable("npm is not installed: cannot fetch @anthropic-ai/claude-code")
    prefix = ROOT / ".cache" / f"claude-code-{CLAUDE_CODE_VERSION}"
    binary = prefix / "node_modules" / ".bin" / "claude"
    prefix.mkdir(parents=True, exist_ok=True)
    with open(prefix / ".lock", "w") as lock:  # test workers share one install
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.exists():
            res = subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(prefix),
                                  f"@anthropic-ai/claude-code@{CLAUDE_CODE_VERSION}"], capture_output=True, text=True)
            if res.returncode != 0:
                unavailable(f"npm could not install @anthropic-ai/claude-code: {res.stderr[-300:]}")
    return str(binary)


def _validate(claude_cli, target):
    return subprocess.run([claude_cli, "plugin", "validate", "--strict", str(target)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "CI": "true"})


def test_claude_plugin_validate_strict_plugin(claude_cli):
    res = _validate(claude_cli, ROOT / ".claude-plugin" / "plugin.json")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Validating plugin manifest" in res.stdout and "Validation passed" in res.stdout


def test_claude_plugin_validate_strict_marketplace(claude_cli):
    res = _validate(claude_cli, ROOT / ".claude-plugin" / "marketplace.json")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Validating marketplace manifest" in res.stdout and "Validation passed" in res.stdout


def test_claude_plugin_validate_directory_profile(claude_cli):
    res = subprocess.run([claude_cli, "plugin", "validate", "--strict", "--profile", "directory", str(ROOT)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_bin_launcher_sets_up_once_and_works_from_any_directory(tmp_path):
    """bin/expkit on a fresh data dir: creates the env, installs the package, then just execs."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["CLAUDE_PLUGIN_DATA"] = str(tmp_path / "data")
    work = tmp_path / "someproject"
    work.mkdir()
    first = subprocess.run([str(ROOT / "bin" / "expkit"), "--version"], cwd=work, env=env, capture_output=True,
                           text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    import expkit

    assert first.stdout.strip() == f"expkit {expkit.__version__}"
    assert "setting up its environment" in first.stderr
    venv_python = tmp_path / "data" / "venv" / "bin" / "python"
    assert venv_python.exists()
    second = subprocess.run([str(ROOT / "bin" / "expkit"), "runs", "list", "--json"], cwd=work, env=env,
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 0 and second.stderr == ""
    assert json.loads(second.stdout)["runs"] == []
    # a changed pyproject.toml (simulated through the stamp) triggers a rebuild
    (tmp_path / "data" / "venv" / ".expkit-stamp").write_text("stale\n")
    third = subprocess.run([str(ROOT / "bin" / "expkit"), "--version"], cwd=work, env=env, capture_output=True,
                           text=True, timeout=600)
    assert third.returncode == 0 and "setting up its environment" in third.stderr
