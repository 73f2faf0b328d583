"""The user's world, for real: expkit in the plugin's private venv, the project in its own venv with torch.

expkit's environment is built exactly as the plugin builds it: by running bin/expkit itself with a private
CLAUDE_PLUGIN_DATA (it installs expkit[plots,wandb], no torch). The project's environment is a separate virtualenv
with torch 2.13.0 (CPU), numpy and wandb, pinned by tests/constraints.txt (pip; PyPI is reachable in CI). Every
command runs through bin/expkit from a shell where the project venv is activated (VIRTUAL_ENV set, its bin first
on PATH) and the test environment is nowhere on PATH or PYTHONPATH: plan check/run/findings with handlers that
import torch, a launched training script, a 3-trial sweep, and W&B injected into a script, run offline and read back.
The two venvs are built once per test session (about a minute each, in parallel) and shared by the workers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, Result, git

pytestmark = pytest.mark.slow

BIN = ROOT / "bin" / "expkit"
CONSTRAINTS = ROOT / "tests" / "constraints.txt"
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
BUILD_AND_RUN = 1800  # seconds: the first test of a worker may build both environments (a minute or two each)

HANDLERS = '''"""t1: fit y = 3x - 1 with torch: the handler needs the project's environment."""

import torch


def fit(runner):
    torch.manual_seed(runner.seed)
    x = torch.linspace(-1, 1, 64).unsqueeze(1)
    y = 3 * x - 1
    model = torch.nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for step in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        runner.log_metrics({"loss": loss}, step=step)  # a tensor: converted by the runner API
    path = runner.results.save_json_artifact("weights.json", {"w": model.weight, "b": model.bias,
                                                               "torch": torch.__version__})
    return {"finding": f"fitted with torch {torch.__version__}", "metrics": {"mse": loss.item()},
            "artifacts": [path]}


def get_handlers():
    return {"e1_1": fit}
'''

PLAN = """project: {name: topology}
experiments:
  t1-torch-fit:
    name: torch fits a line
    sub_experiments: [e1_1]
    success_criteria:
      mse: {target: 0.01, acceptable: 0.05, failure: 0.5, direction: lower}
"""

TRAIN = '''"""A tiny torch training script: seeds from EXPKIT_SEED, appends metrics.jsonl in the run dir."""
import argparse, json, os

import torch

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.1)
parser.add_argument("--steps", type=int, default=20)
args = parser.parse_args()
torch.manual_seed(int(os.environ.get("EXPKIT_SEED", "0")))
x = torch.randn(64, 3)
y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
model = torch.nn.Linear(3, 1)
opt = torch.optim.SGD(model.parameters(), lr=args.lr)
with open(os.path.join(os.environ["EXPKIT_RUN_DIR"], "metrics.jsonl"), "a") as sink:
    for step in range(args.steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        sink.write(json.dumps({"_step": step, "val_loss": loss.item()}) + "\\n")
print(f"done: torch {torch.__version__} val_loss={loss.item():.4f}", flush=True)
'''

SWEEP = """name: lr-sweep
method: grid
metric: {name: val_loss, goal: minimize}
parameters:
  lr: {values: [0.01, 0.05, 0.1]}
command: python train.py --lr ${lr} --steps 10
"""


def _build(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Both environments, built side by side once per test session (test workers share them through a lock):
    {env: a user's shell with the project venv active, venv, data: CLAUDE_PLUGIN_DATA}."""
    import fcntl

    session = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker's folder is inside the session's: share that one
        session = session.parent
    base = session / "expkit-topology"
    base.mkdir(exist_ok=True)
    data, venv = base / "plugin-data", base / "project-venv"
    clean = {k: v for k, v in os.environ.items()
             if k not in ("PYTHONPATH", "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONHOME")
             and not k.startswith(("EXPKIT_", "WANDB_"))}
    clean["PATH"] = SYSTEM_PATH  # neither the test venv nor the project venv: as a fresh shell has it
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (base / ".ready").exists():
            python3 = shutil.which("python3", path=SYSTEM_PATH)
            assert python3, "a system python3 is needed to build the environments"
            shutil.rmtree(data, ignore_errors=True)
            shutil.rmtree(venv, ignore_errors=True)
            build_expkit = _build([str(BIN), "--version"], {**clean, "CLAUDE_PLUGIN_DATA": str(data)},
                                  base / "expkit.log")
            subprocess.run([python3, "-m", "venv", str(venv)], check=True, env=clean, timeout=300)
            build_project = _build([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                                    "--disable-pip-version-check", "-c", str(CONSTRAINTS), "torch==2.13.0", "numpy",
                                    "wandb"], clean, base / "project.log")
            for proc, log in ((build_expkit, "expkit.log"), (build_project, "project.log")):
                assert proc.wait(timeout=1200) == 0, (base / log).read_text()[-3000:]
            (base / ".ready").write_text("ok\n")
    user = {**clean, "CLAUDE_PLUGIN_DATA": str(data), "VIRTUAL_ENV": str(venv),
            "PATH": f"{venv / 'bin'}:{SYSTEM_PATH}", "WANDB_MODE": "offline", "WANDB_SILENT": "true",
            "CUDA_VISIBLE_DEVICES": ""}
    return {"env": user, "venv": venv, "data": data}


def bin_expkit(world, *args, cwd, timeout=300) -> Result:
    return Result(subprocess.run([str(BIN), *map(str, args)], cwd=cwd, env=world["env"], capture_output=True,
                                 text=True, timeout=timeout))


def new_project(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / ".gitignore").write_text("runs/\nwandb/\n")
    return proj


def commit(proj: Path) -> None:
    git(proj, "init", "-q")
    git(proj, "add", ".")
    git(proj, "commit", "-qm", "init")


def assert_project_python(world, manifest: dict) -> None:
    py = manifest["python"]
    assert Path(py["prefix"]) == world["venv"], py
    assert py["packages"]["torch"].startswith("2.13.0"), py["packages"]


@pytest.mark.timeout(BUILD_AND_RUN)
def test_the_two_environments_are_separate(world):
    """The premise: expkit's venv has no torch, the project's has no expkit, and `expkit` is bin/expkit."""
    expkit_py = world["data"] / "venv" / "bin" / "python"
    assert subprocess.run([str(expkit_py), "-c", "import torch"], capture_output=True).returncode != 0
    assert subprocess.run([str(expkit_py), "-c", "import wandb, matplotlib"], capture_output=True).returncode == 0
    project_py = world["venv"] / "bin" / "python"
    assert subprocess.run([str(project_py), "-c", "import expkit"], capture_output=True,
                          env=world["env"]).returncode != 0
    assert subprocess.run([str(project_py), "-c", "import torch, wandb"], capture_output=True).returncode == 0


@pytest.mark.timeout(BUILD_AND_RUN)
def test_plan_check_run_findings_with_handlers_that_import_torch(world, tmp_path):
    proj = new_project(tmp_path)
    (proj / "research").mkdir()
    (proj / "research" / "research_plan.yaml").write_text(PLAN)
    (proj / "handlers" / "t1").mkdir(parents=True)
    (proj / "handlers" / "t1" / "__init__.py").write_text(HANDLERS)
    commit(proj)

    r = bin_expkit(world, "plan", "check", "t1-torch-fit", cwd=proj)
    assert r.returncode == 0, r
    assert f"handlers run in {world['venv']}" in r.stdout and "chosen by $VIRTUAL_ENV" in r.stdout
    assert "t1 imports; registers e1_1" in r.stdout

    r = bin_expkit(world, "plan", "run", "t1-torch-fit", "--json", cwd=proj)
    assert r.returncode == 0, r
    out = r.json()
    assert out["counts"]["completed"] == 1 and out["recommendation"] == "proceed", out
    assert out["criteria"]["mse"]["level"] == "target_met"
    run_id = out["ran"][0]["run_id"]
    run_dir = proj / "runs" / run_id
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert_project_python(world, manifest)
    assert manifest["python"]["chosen_by"].startswith("$VIRTUAL_ENV")
    weights = json.loads((proj / "research" / "experiments" / "t1-torch-fit" / "artifacts" / "weights.json")
                         .read_text())
    assert weights["torch"].startswith("2.13.0") and abs(weights["w"][0][0] - 3) < 0.1
    # W&B: the project's env has wandb and WANDB_MODE=offline, so the handler's metrics went to an offline run too
    assert list((run_dir / "wandb").glob("offline-run-*")), sorted(p.name for p in run_dir.iterdir())
    m = bin_expkit(world, "runs", "metrics", run_id, "--json", cwd=proj)
    assert m.returncode == 0, m
    assert m.json()["source"] == "wandb" and m.json()["metrics"]["e1_1/loss"]["count"] == 60, m.json()

    r = bin_expkit(world, "plan", "findings", "t1-torch-fit", cwd=proj)
    assert r.returncode == 0, r
    findings = (proj / "research" / "experiments" / "t1-torch-fit" / "FINDINGS.md").read_text()
    assert "mse" in findings and "PROCEED" in findings


@pytest.mark.timeout(BUILD_AND_RUN)
def test_launch_records_the_project_interpreter_and_its_torch(world, tmp_path):
    proj = new_project(tmp_path)
    (proj / "train.py").write_text(TRAIN)
    commit(proj)
    r = bin_expkit(world, "launch", "--seed", "3", "--json", "--", "python", "train.py", "--steps", "5", cwd=proj)
    assert r.returncode == 0, r
    run_id = r.json()["run_id"]
    done = bin_expkit(world, "runs", "wait", run_id, "--timeout", "240", cwd=proj)
    assert done.returncode == 0, (done, (proj / "runs" / run_id / "stdout.log").read_text())
    manifest = json.loads((proj / "runs" / run_id / "manifest.json").read_text())
    assert_project_python(world, manifest)
    assert "done: torch 2.13.0" in (proj / "runs" / run_id / "stdout.log").read_text()


@pytest.mark.timeout(BUILD_AND_RUN)
def test_a_three_trial_sweep_runs_in_the_project_env(world, tmp_path):
    proj = new_project(tmp_path)
    (proj / "train.py").write_text(TRAIN)
    (proj / "sweep.yaml").write_text(SWEEP)
    commit(proj)
    r = bin_expkit(world, "sweep", "run", "sweep.yaml", "--gpus", "none", "--json", cwd=proj, timeout=800)
    assert r.returncode == 0, r
    runs = [p for p in (proj / "runs").iterdir() if (p / "manifest.json").exists()]
    assert len(runs) == 3, runs
    lrs = set()
    for run in runs:
        manifest = json.loads((run / "manifest.json").read_text())
        assert_project_python(world, manifest)
        assert json.loads((run / "status.json").read_text())["state"] == "succeeded"
        lrs.add(manifest["command"]["argv"][manifest["command"]["argv"].index("--lr") + 1])
    assert lrs == {"0.01", "0.05", "0.1"}


@pytest.mark.timeout(BUILD_AND_RUN)
def test_wandb_inject_then_run_offline_then_read_the_metrics_back(world, tmp_path):
    proj = new_project(tmp_path)
    shutil.copy(ROOT / "tests" / "inject_scripts" / "module_level.py", proj / "train.py")
    commit(proj)
    r = bin_expkit(world, "wandb", "inject", "train.py", "--project", "topology", "--json", cwd=proj)
    assert r.returncode == 0, r
    assert r.json()["changed"] and "wandb" in (proj / "train.py").read_text()
    git(proj, "commit", "-qam", "log to W&B")
    r = bin_expkit(world, "launch", "--wandb-project", "topology", "--json", "--", "python", "train.py", cwd=proj)
    assert r.returncode == 0, r
    run_id = r.json()["run_id"]
    done = bin_expkit(world, "runs", "wait", run_id, "--timeout", "240", cwd=proj)
    assert done.returncode == 0, (done, (proj / "runs" / run_id / "stdout.log").read_text())
    assert_project_python(world, json.loads((proj / "runs" / run_id / "manifest.json").read_text()))
    m = bin_expkit(world, "runs", "metrics", run_id, "--json", cwd=proj)
    assert m.returncode == 0, m
    assert m.json()["source"] == "wandb", m.json()
    assert m.json()["metrics"]["train/loss"]["count"] == 6, m.json()  # one point per training step

