"""Backend options and Slurm's vocabulary, checked without a cluster: what a user types and what Slurm says."""

from __future__ import annotations

from pathlib import Path

import pytest

from expkit import backends
from expkit.backends.modal import mem_mib, time_seconds
from expkit.backends.slurm import SlurmBackend, map_state
from expkit.errors import ExpkitError


@pytest.mark.parametrize("job_state, state", [
    ("PENDING", "queued"), ("REQUEUED", "queued"), ("CONFIGURING", "queued"),
    ("RUNNING", "running"), ("COMPLETING", "running"), ("SUSPENDED", "running"),
    ("COMPLETED", "succeeded"), ("CANCELLED by 0", "stopped"), ("CANCELLED+", "stopped"),
    ("FAILED", "failed"), ("TIMEOUT", "failed"), ("OUT_OF_MEMORY", "failed"), ("NODE_FAIL", "failed"),
    ("PREEMPTED", "failed"),
])
def test_slurm_states_map_to_expkit_states(job_state, state):
    assert map_state(job_state) == state


@pytest.mark.parametrize("value", ["90", "30:00", "4:00:00", "1-12", "1-12:00", "2-00:00:00", "UNLIMITED"])
def test_slurm_time_forms_are_accepted(value):
    assert SlurmBackend(time=value).time == value


@pytest.mark.parametrize("opts, message", [
    ({"time": "4h"}, "not a Slurm time limit"), ({"mem": "32 GB"}, "not a Slurm memory size"),
    ({"gpus": "0,1"}, "not a GPU count"), ({"cpus": 0}, "at least 1"), ({"nodes": "two"}, "at least 1"),
])
def test_bad_slurm_options_say_what_is_expected(opts, message):
    with pytest.raises(ExpkitError, match=message) as exc:
        backends.get("slurm", **opts)
    assert exc.value.hint


def test_sbatch_lines_carry_every_resource():
    be = SlurmBackend(partition="gpu", account="lab", time="4:00:00", gpus="a100:2", cpus=8, mem="32G", nodes=2)
    lines = be.sbatch_lines("train_1", "/runs/train_1/stdout.log")
    assert lines == ["#SBATCH --job-name=train_1", "#SBATCH --output=/runs/train_1/stdout.log",
                     "#SBATCH --open-mode=append", "#SBATCH --partition=gpu", "#SBATCH --account=lab",
                     "#SBATCH --time=4:00:00", "#SBATCH --nodes=2", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=32G",
                     "#SBATCH --gres=gpu:a100:2", "#SBATCH --signal=B:USR1@90", "#SBATCH --requeue"]
    assert "--requeue" not in " ".join(SlurmBackend(requeue=False).sbatch_lines("x", "/o"))
    assert backends.get("slurm", **be.options()).options() == be.options()  # what the manifest records rebuilds it


def test_batch_script_never_holds_secrets(monkeypatch, tmp_path):
    class FakeRun:  # only id and path are read
        id = "train_1"
        path = tmp_path

    monkeypatch.setenv("HF_TOKEN", "hf_from_shell")
    env = {"HF_TOKEN": "hf_from_shell", "WANDB_API_KEY": "wandb_secret", "EXPKIT_SEED": "3", "OMP_NUM_THREADS": "4"}
    text = SlurmBackend().batch_script(FakeRun(), ["python", "train.py", "--lr", "0.1"], Path("/proj"), env)
    assert "wandb_secret" not in text and "hf_from_shell" not in text
    assert "export EXPKIT_SEED=3" in text and "export OMP_NUM_THREADS=4" in text
    assert "python train.py --lr 0.1 &" in text


def test_modal_units():
    assert time_seconds("90") == 5400 and time_seconds("4:00:00") == 14400 and time_seconds("1-12:00:00") == 129600
    assert mem_mib("32G") == 32768 and mem_mib("512M") == 512
    with pytest.raises(ExpkitError):
        time_seconds("soon")
