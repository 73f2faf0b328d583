"""Shared fixtures: the real `expkit` CLI in a subprocess, real temporary git repos, a private runs dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HELPERS = ROOT / "helpers"
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(HELPERS))
pytest_plugins = ["pytester"]


def expkit_env(extra: dict | None = None) -> dict:
    """The environment tests run expkit in: this checkout's package, no inherited runs dir or W&B login, and no
    activated environment (plan handlers then run in the test interpreter; tests/test_plan_interpreter.py and
    tests/test_topology.py cover the project's own)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(HELPERS) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for key in ("EXPKIT_RUNS_DIR", "CUDA_VISIBLE_DEVICES", "WANDB_API_KEY", "VIRTUAL_ENV", "CONDA_PREFIX"):
        env.pop(key, None)
    env["WANDB_MODE"] = "offline"
    env.update(extra or {})
    return env


class Result:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def json(self):
        return json.loads(self.stdout)

    def __repr__(self):
        return f"<exit {self.returncode}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}>"


def run_expkit_cmd(*args, cwd=None, env=None, timeout=120, input=None) -> Result:
    proc = subprocess.run([sys.executable, "-m", "expkit", *map(str, args)], cwd=cwd, env=expkit_env(env),
                          capture_output=True, text=True, timeout=timeout, input=input)
    return Result(proc)


@pytest.fixture
def expkit():
    """Call the real CLI: expkit("runs", "list", "--json", cwd=...)."""
    return run_expkit_cmd


def git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})


@pytest.fixture
def git_repo(tmp_path):
    """A real git repository with one committed training script (prints its seed, logs a loss)."""
    repo = tmp_path / "project"
    repo.mkdir()
    (repo / "train.py").write_text(
        "import os, sys, time\n"
        "steps = int(sys.argv[1]) if len(sys.argv) > 1 else 3\n"
        "print('seed', os.environ.get('EXPKIT_SEED'), flush=True)\n"
        "for step in range(steps):\n"
        "    print(f'step={step} loss={1.0 / (step + 1):.4f}', flush=True)\n"
        "    time.sleep(0.05)\n"
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


@pytest.fixture(autouse=True)
def _slurm_jobs_cancelled_after_each_test(request):
    """A test on the localhost Slurm cluster leaves no job behind, even when it failed half-way: the cluster is
    shared by its module, and one leftover job would starve the next tests of CPUs."""
    yield
    if any(name.startswith("slurm_cluster") for name in request.fixturenames):
        from slurm_cluster import cancel_jobs_of_live_clusters

        cancel_jobs_of_live_clusters()
