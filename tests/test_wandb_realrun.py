"""Inject W&B into the example training scripts, run each for real with WANDB_MODE=offline on tiny synthetic
data, and read the offline run back with `expkit wandb metrics`: the config and the loss must be there, with
increasing steps. A case whose framework is not installed is skipped and says which package it needs.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).parent / "inject_scripts"

pytestmark = pytest.mark.slow


def need(*modules):
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} installed in the test interpreter")


def run_injected(expkit, tmp_path, script, *args, inject_args=(), timeout=300):
    work = tmp_path / "project"
    work.mkdir()
    target = work / script
    shutil.copy(SCRIPTS / script, target)
    res = expkit("wandb", "inject", target, "--project", "expkit-test", *inject_args, "--json", cwd=work)
    assert res.returncode == 0, res
    assert res.json()["changed"], res.json()
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(work), "WANDB_SILENT": "true",
           "WANDB_PROJECT": "expkit-test", "PYTHONHASHSEED": "0", "CUDA_VISIBLE_DEVICES": "",
           "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow")}
    env.pop("WANDB_API_KEY", None)
    proc = subprocess.run([sys.executable, str(target), *args], cwd=work, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"{script} failed after inject:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    res = expkit("wandb", "metrics", work, "--history", "--json", cwd=work)
    assert res.returncode == 0, res
    return res.json()


def assert_logged(run, metric, config, min_points=2):
    assert run["state"] == "finished", run["state"]
    for key, value in config.items():
        assert run["config"].get(key) == value, (key, run["config"])
    assert metric in run["metrics"], sorted(run["metrics"])
    hist = run["metrics"][metric]["history"]
    assert len(hist) >= min_points, hist
    steps = [s for s, _ in hist]
    assert steps == sorted(steps) and len(set(steps)) == len(steps), steps
    assert all(isinstance(v, (int, float)) for _, v in hist)


def test_argparse_mnist_style(expkit, tmp_path):
    need("torch", "wandb")
    run = run_injected(expkit, tmp_path, "mnist_argparse.py", "--epochs", "2", "--samples", "32")
    assert_logged(run, "train/loss", {"lr": 0.1, "epochs": 2, "batch_size": 16, "samples": 32}, min_points=4)
    assert run["metrics"]["eval/test_loss"]["count"] == 2  # one test() per epoch
    assert run["project"] == "expkit-test"


def test_module_level_script(expkit, tmp_path):
    need("torch", "wandb")
    run = run_injected(expkit, tmp_path, "module_level.py")
    assert_logged(run, "train/loss", {"lr": 0.05, "steps": 6, "hidden": 8}, min_points=6)
    assert "eval/val_loss" in run["metrics"]


def test_ddp_rank_worker(expkit, tmp_path):
    need("torch", "wandb")
    run = run_injected(expkit, tmp_path, "ddp_rank.py", "--steps", "4")
    assert_logged(run, "train/loss", {"lr": 0.1, "steps": 4, "world_size": 1}, min_points=4)


def test_hydra_main(expkit, tmp_path):
    need("torch", "wandb", "hydra", "omegaconf")
    run = run_injected(expkit, tmp_path, "hydra_main.py", "steps=4", "lr=0.02")
    assert_logged(run, "train/loss", {"lr": 0.02, "steps": 4, "width": 8}, min_points=4)


def test_click_command(expkit, tmp_path):
    need("torch", "wandb", "click")
    run = run_injected(expkit, tmp_path, "click_cli.py", "--steps", "3")
    assert_logged(run, "train/loss", {"lr": 0.05, "steps": 3}, min_points=3)


def test_typer_run(expkit, tmp_path):
    need("torch", "wandb", "typer")
    run = run_injected(expkit, tmp_path, "typer_cli.py", "--steps", "3")
    assert_logged(run, "train/loss", {"lr": 0.05, "steps": 3, "seed": 0}, min_points=3)


def test_tensorboard_sync(expkit, tmp_path):
    need("torch", "wandb", "tensorboard")
    run = run_injected(expkit, tmp_path, "tensorboard_writer.py", "--steps", "4",
                       inject_args=("--sync-tensorboard",))
    assert_logged(run, "loss", {"lr": 0.05, "steps": 4}, min_points=4)


def test_accelerate_loop(expkit, tmp_path):
    need("torch", "wandb", "accelerate")
    run = run_injected(expkit, tmp_path, "accelerate_loop.py", "--steps", "4")
    assert_logged(run, "train/loss", {"lr": 0.05, "steps": 4}, min_points=4)


def test_lightning_trainer(expkit, tmp_path):
    need("torch", "wandb", "lightning")
    run = run_injected(expkit, tmp_path, "lightning_trainer.py")
    assert_logged(run, "train_loss", {"lr": 0.05, "width": 4}, min_points=3)
    assert (tmp_path / "project" / "logs").is_dir()  # the CSV logger it already had still runs


def test_hf_trainer(expkit, tmp_path):
    need("torch", "wandb", "transformers", "accelerate")
    run = run_injected(expkit, tmp_path, "hf_trainer.py")
    assert_logged(run, "train/loss", {"learning_rate": 0.001, "max_steps": 6}, min_points=3)


def test_keras_fit(expkit, tmp_path):
    need("wandb", "keras", "tensorflow")
    run = run_injected(expkit, tmp_path, "keras_fit.py", "--epochs", "2")
    assert_logged(run, "epoch/loss", {"epochs": 2, "lr": 0.01}, min_points=2)
