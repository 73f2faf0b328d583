"""Real public training scripts, injected with `expkit wandb inject`, then run for real on CPU with WANDB_MODE=offline.

Each script is vendored byte for byte in tests/realworld/inject/run_*.py (sources in SOURCES.tsv, answer keys
written from reading the script). Nothing is downloaded: data comes from tiny synthetic files the test writes, from
command-line flags, and from the shim in tests/realworld/inject/run_shim (a sitecustomize active only with
EXPKIT_SHIM=1 that fakes keras' MNIST download and can make the N-th backward() raise; a stand-in torchvision,
since the PyPI wheel does not import next to torch 2.13 CPU here). The scripts themselves are never edited.

The run is read back from disk with `expkit wandb metrics` (the offline run's transaction log): a loss history with
several points and the config keys the answer key names. The variant that raises in the middle of training must
exit non-zero and be recorded by W&B as failed, never as a finished run.
"""

from __future__ import annotations

import importlib.util
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

CORPUS = Path(__file__).parent / "realworld" / "inject"
SHIM = CORPUS / "run_shim"
FAKE_TORCHVISION = SHIM / "torchvision_fake"
SUPPORT = CORPUS / "run_support"



def _words(path: Path, n: int, seed: int = 0) -> None:
    """A text corpus from a small vocabulary, one sentence per line."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(60)]
    lines = [" ".join(rng.choice(vocab) for _ in range(12)) for _ in range(n // 12)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def _sine_waves(work: Path) -> None:
    """traindata.pt as time_sequence_prediction/generate_sine_wave.py makes it, smaller (8 waves of 60 points)."""
    import numpy as np
    import torch

    rng = np.random.RandomState(2)
    x = np.arange(60)[None, :] + rng.randint(-80, 80, 8).reshape(8, 1)
    torch.save(np.sin(x / 20.0).astype("float64"), work / "traindata.pt")


def _wikitext(work: Path) -> None:
    _words(work / "data" / "wikitext-2.txt", 35 * 4100)  # the script splits off 2 x 2000 blocks of 35 tokens


def _wlm_data(work: Path) -> None:
    for split, n in (("train", 600), ("valid", 200), ("test", 200)):
        _words(work / "corpus" / f"{split}.txt", n, seed=len(split))
    for name in ("data.py", "model.py"):
        shutil.copy(SUPPORT / "word_language_model" / name, work / name)


def _results_dir(work: Path) -> None:
    (work / "results").mkdir()


# name -> how to run it: flags (the script's own), setup of tiny data files, what the shim provides, and where the
# injected failure lands (the N-th backward(): early enough that the run has logged something).
RUNS = {
    "run_pt_mnist": dict(args=["--epochs", "2", "--batch-size", "16", "--test-batch-size", "16",
                               "--log-interval", "1", "--no-accel"], torchvision=True, raise_at=5),
    "run_pt_mnist_rnn": dict(args=["--epochs", "2", "--batch-size", "16", "--test-batch-size", "16",
                                   "--log-interval", "1"], torchvision=True),
    "run_pt_vae": dict(args=["--epochs", "2", "--batch-size", "16", "--log-interval", "1", "--no-accel"],
                       torchvision=True, setup=_results_dir),
    "run_pt_dcgan": dict(args=["--dataset", "fake", "--niter", "2", "--batchSize", "4", "--ngf", "8", "--ndf", "8",
                               "--workers", "0", "--outf", "out", "--manualSeed", "1"], torchvision=True,
                         samples=16, raise_at=7, setup=lambda w: (w / "out").mkdir()),
    "run_pt_forward_forward": dict(args=["--epochs", "6", "--train_size", "64", "--test_size", "64",
                                         "--log-interval", "1", "--no_accel"], torchvision=True),
    "run_pt_regression": dict(args=[], raise_at=20),
    "run_pt_word_language_model": dict(args=["--data", "corpus", "--epochs", "2", "--emsize", "16", "--nhid", "16",
                                             "--nlayers", "1", "--bptt", "8", "--batch_size", "4",
                                             "--log-interval", "1"], setup=_wlm_data),
    # torch >= 2.6 loads weights only by default, and the script's traindata.pt holds a numpy array.
    "run_pt_time_sequence": dict(args=["--steps", "3"], setup=_sine_waves, raise_at=25,
                                 env={"TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}),
    "run_pl_transformer": dict(args=[], setup=_wikitext,
                               env={"PL_TRAINER_LIMIT_TRAIN_BATCHES": "2", "PL_TRAINER_LIMIT_VAL_BATCHES": "1",
                                    "PL_TRAINER_LIMIT_TEST_BATCHES": "1", "PL_TRAINER_LOG_EVERY_N_STEPS": "1",
                                    "PL_TRAINER_ENABLE_PROGRESS_BAR": "0", "PL_TRAINER_ENABLE_CHECKPOINTING": "0",
                                    "PL_TRAINER_ACCELERATOR": "cpu"}, raise_at=5),
    "run_fabric_image_classifier": dict(args=["--epochs", "2", "--batch-size", "16", "--log-interval", "1"],
                                        torchvision=True, env={"LT_ACCELERATOR": "cpu"}),
    "run_keras_custom_torch_loop": dict(args=[], samples=256, env={"KERAS_BACKEND": "torch"}),
    "run_keras_mnist_convnet": dict(args=[], samples=256, env={"KERAS_BACKEND": "torch"}, raise_at=5),
}


def answer(name: str) -> dict:
    return yaml.safe_load((CORPUS / f"{name}.answer.yaml").read_text())


def _prepare(expkit, tmp_path: Path, name: str, spec: dict) -> Path:
    work = tmp_path / name
    work.mkdir()
    shutil.copy(CORPUS / f"{name}.py", work / f"{name}.py")
    if spec.get("setup"):
        spec["setup"](work)
    res = expkit("wandb", "inject", work / f"{name}.py", "--project", "expkit-realworld", "--json", cwd=work)
    assert res.returncode == 0, f"{name}: inject failed\n{res}"
    out = res.json()
    assert out["changed"], f"{name}: the answer key says injectable, inject changed nothing: {out}"
    return work


def _run(work: Path, name: str, spec: dict, raise_at: int = 0) -> subprocess.CompletedProcess:
    paths = [str(SHIM)] + ([str(FAKE_TORCHVISION)] if spec.get("torchvision") else [])
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update({"WANDB_MODE": "offline", "WANDB_DIR": str(work), "WANDB_SILENT": "true",
                "EXPKIT_SHIM": "1", "EXPKIT_SHIM_SAMPLES": str(spec.get("samples", 64)),
                "EXPKIT_SHIM_RAISE_AT": str(raise_at), "PYTHONPATH": os.pathsep.join(paths),
                "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONHASHSEED": "0", **spec.get("env", {})})
    return subprocess.run([sys.executable, f"{name}.py", *spec["args"]], cwd=work, env=env, capture_output=True,
                          text=True, timeout=300)


def _read_back(expkit, work: Path) -> dict:
    res = expkit("wandb", "metrics", work, "--history", "--json", cwd=work)
    assert res.returncode == 0, res
    return res.json()


def _loss_histories(run: dict, key: dict) -> dict:
    """Metrics named like what the answer key says is logged (leaf name, e.g. train/loss for `loss`)."""
    wanted = {n.lower() for n in key.get("logs", [])}
    return {name: m["history"] for name, m in run["metrics"].items()
            if name.rsplit("/", 1)[-1].lower() in wanted or "loss" in name.lower()}


def test_at_least_twelve_real_scripts_with_sources_and_answer_keys():
    import csv

    rows = {r["file"]: r for r in csv.DictReader((CORPUS / "SOURCES.tsv").open(), delimiter="\t")}
    assert len(RUNS) >= 12
    for name in RUNS:
        key = answer(name)
        row = rows[f"{name}.py"]
        assert (CORPUS / f"{name}.py").is_file()
        assert row["repo"] == key["source"]["repo"] and row["path"] == key["source"]["path"]
        assert row["commit"] == key["source"]["commit"] and len(row["commit"]) == 40
        assert row["licence"] in {"MIT", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0"}
        assert key["injectable"] and key.get("logs") is not None and "config_keys" in key, name
    raising = {key_of["framework"] for name, spec in RUNS.items() if spec.get("raise_at")
               for key_of in [answer(name)]}
    assert {"pytorch", "lightning", "keras"} <= raising, "the crash variant covers loops, Lightning and Keras fit"


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", sorted(RUNS))
def test_real_script_runs_injected_and_is_read_back(expkit, tmp_path, name):
    spec = RUNS[name]
    key = answer(name)
    needed = ["torch", "wandb"] + {"lightning": ["lightning"], "fabric": ["lightning"], "keras": ["keras"]}.get(
        key["framework"], [])
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    work = _prepare(expkit, tmp_path, name, spec)

    proc = _run(work, name, spec)
    assert proc.returncode == 0, f"{name} failed after inject:\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}"
    run = _read_back(expkit, work)
    assert run["state"] == "finished" and run["exit_code"] == 0, (run["state"], run["exit_code"])
    assert run["project"] == "expkit-realworld"
    histories = _loss_histories(run, key)
    longest = max(histories.items(), key=lambda kv: len(kv[1]), default=(None, []))
    assert len(longest[1]) >= 3, f"{name}: no loss history with several points: {sorted(run['metrics'])}"
    steps = [s for s, _ in longest[1]]
    assert steps == sorted(steps), steps
    missing_keys = set(key.get("config_keys") or ()) - set(run["config"])
    assert not missing_keys, f"{name}: config keys not recorded: {sorted(missing_keys)} (got {sorted(run['config'])})"

    if spec.get("raise_at"):
        shutil.rmtree(work / "wandb")
        crashed = _run(work, name, spec, raise_at=spec["raise_at"])
        assert crashed.returncode != 0, f"{name}: the injected failure did not fail the process"
        assert "failure injected" in crashed.stderr, crashed.stderr[-3000:]
        failed = _read_back(expkit, work)
        assert failed["state"] == "failed" and failed["exit_code"] not in (0, None), \
            f"{name}: a crash was recorded by W&B as {failed['state']} (exit code {failed['exit_code']})"
