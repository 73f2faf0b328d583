"""The SessionStart hook: what ended since the last session, one line each; silent otherwise; never fails."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import HELPERS, ROOT

HOOK = ROOT / "hooks" / "session-start.sh"


def hook_env(data_dir, project):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EXPKIT_RUNS_DIR")}
    env.update(CLAUDE_PLUGIN_DATA=str(data_dir), CLAUDE_PROJECT_DIR=str(project), CLAUDE_PLUGIN_ROOT=str(ROOT))
    return env


def install_expkit_stub(data_dir):
    """Stands in for the env bin/expkit builds (test_plugin.py builds a real one): this checkout's package."""
    exe = data_dir / "venv" / "bin" / "expkit"
    exe.parent.mkdir(parents=True)
    exe.write_text(f"#!/bin/sh\nPYTHONPATH={HELPERS} exec {sys.executable} -m expkit \"$@\"\n")
    exe.chmod(0o755)


def test_hooks_json_points_at_the_script():
    spec = json.loads((ROOT / "hooks" / "hooks.json").read_text())
    cmd = spec["hooks"]["SessionStart"][0]["hooks"][0]
    assert cmd["type"] == "command" and cmd["command"] == '"${CLAUDE_PLUGIN_ROOT}"/hooks/session-start.sh'
    assert os.access(HOOK, os.X_OK)


def test_silent_and_successful_when_expkit_is_not_set_up(tmp_path):
    res = subprocess.run([str(HOOK)], env=hook_env(tmp_path / "nodata", tmp_path), capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout == "" and res.stderr == ""


def test_reports_each_ended_run_once(tmp_path, git_repo, expkit):
    install_expkit_stub(tmp_path / "data")
    ok = expkit("launch", "--json", "--", sys.executable, "train.py", "1", cwd=git_repo).json()
    bad = expkit("launch", "--json", "--", sys.executable, "-c", "raise SystemExit(2)", cwd=git_repo).json()
    for r in (ok, bad):
        expkit("runs", "wait", r["run_id"], cwd=git_repo)
    env = hook_env(tmp_path / "data", git_repo)
    first = subprocess.run([str(HOOK)], env=env, capture_output=True, text=True)
    lines = first.stdout.splitlines()
    assert first.returncode == 0 and len(lines) == 2, first
    assert any(bad["run_id"] in l and "failed (exit 2)" in l and "expkit runs diagnose" in l for l in lines)
    assert any(ok["run_id"] in l and "succeeded (exit 0)" in l for l in lines)
    second = subprocess.run([str(HOOK)], env=env, capture_output=True, text=True)
    assert second.returncode == 0 and second.stdout == ""


def test_silent_in_a_project_without_runs(tmp_path):
    install_expkit_stub(tmp_path / "data")
    project = tmp_path / "empty"
    project.mkdir()
    res = subprocess.run([str(HOOK)], env=hook_env(tmp_path / "data", project), capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout == "" and not (project / "runs").exists()
