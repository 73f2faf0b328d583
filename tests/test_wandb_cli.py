"""`expkit wandb inject/revert/status/metrics` through the real CLI, and the local run reader on real offline
runs (including one killed before it finished)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from expkit.monitor.wandb_local import find_wandb_runs, lower_is_better, read_wandb_run

SCRIPTS = Path(__file__).parent / "inject_scripts"
needs_wandb = pytest.mark.skipif(importlib.util.find_spec("wandb") is None, reason="needs wandb installed")

LOGGER = """
import os, sys, wandb
run = wandb.init(project="cli-test", config={"lr": 0.01, "layers": [1, 2], "API_TOKEN": "x"})
for step in range(5):
    wandb.log({"train/loss": 1.0 / (step + 1), "val/acc": [0.5, 0.7, 0.6, 0.9, 0.8][step]})
run.summary["best_epoch"] = 3
if os.environ.get("DIE"):
    os._exit(3)
wandb.finish()
"""


def offline_run(tmp_path, die=False):
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_SILENT": "true"}
    env.pop("WANDB_API_KEY", None)
    if die:
        env["DIE"] = "1"
    proc = subprocess.run([sys.executable, "-c", LOGGER], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == (3 if die else 0), proc.stderr


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    if importlib.util.find_spec("wandb") is None:
        pytest.skip("needs wandb installed")
    tmp = tmp_path_factory.mktemp("wandbrun")
    offline_run(tmp)
    return tmp


@needs_wandb
def test_reader_gives_config_latest_best_and_history(finished_run):
    runs = find_wandb_runs(finished_run)
    assert len(runs) == 1 and runs[0].name.startswith("offline-run-")
    for path in (finished_run, finished_run / "wandb", runs[0]):  # project dir, wandb dir, run dir
        run = read_wandb_run(path)
        assert run["run_dir"] == str(runs[0])
    assert run["state"] == "finished" and run["project"] == "cli-test"
    assert run["config"] == {"lr": 0.01, "layers": [1, 2], "API_TOKEN": "x"}
    loss = run["metrics"]["train/loss"]
    assert loss["latest"] == pytest.approx(0.2) and loss["best"] == pytest.approx(0.2) and loss["goal"] == "min"
    assert [s for s, _ in loss["history"]] == [0, 1, 2, 3, 4]
    acc = run["metrics"]["val/acc"]
    assert acc["latest"] == 0.8 and acc["best"] == 0.9 and acc["best_step"] == 3 and acc["goal"] == "max"
    assert run["metrics"]["best_epoch"]["latest"] == 3


@needs_wandb
def test_metrics_cli_text_and_json(expkit, finished_run):
    res = expkit("wandb", "metrics", finished_run)
    assert res.returncode == 0, res
    assert "train/loss" in res.stdout and "lr = 0.01" in res.stdout
    data = expkit("wandb", "metrics", finished_run, "--json").json()
    assert "history" not in data["metrics"]["train/loss"]
    assert expkit("wandb", "metrics", finished_run, "--json", "--history").json()["metrics"]["val/acc"]["count"] == 5


@needs_wandb
def test_killed_run_has_no_exit_record_so_reads_as_running(tmp_path):
    offline_run(tmp_path, die=True)
    run = read_wandb_run(tmp_path)
    assert run["state"] == "running" and run["exit_code"] is None


def test_metrics_on_a_dir_without_runs_is_a_clear_error(expkit, tmp_path):
    res = expkit("wandb", "metrics", tmp_path)
    assert res.returncode == 2 and "no W&B run" in res.stderr and "Traceback" not in res.stderr


def test_lower_is_better():
    assert lower_is_better("train/loss") and lower_is_better("val_perplexity") and not lower_is_better("val/acc")


def test_status_never_prints_the_key(expkit, tmp_path):
    secret = "0123456789abcdef0123456789abcdef01234567"
    res = expkit("wandb", "status", "--json", cwd=tmp_path,
                 env={"WANDB_API_KEY": secret, "WANDB_MODE": "offline", "WANDB_ENTITY": "lab", "HOME": str(tmp_path)})
    assert res.returncode == 0, res
    st = res.json()
    assert st["logged_in"] and st["credentials"] == "WANDB_API_KEY" and st["mode"] == "offline"
    assert st["entity"] == "lab"
    assert secret not in res.stdout + res.stderr


def test_status_reads_netrc_and_settings(expkit, tmp_path):
    (tmp_path / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password secretsecret\n")
    os.chmod(tmp_path / ".netrc", 0o600)
    cfg = tmp_path / ".config" / "wandb"
    cfg.mkdir(parents=True)
    (cfg / "settings").write_text("[default]\nmode = disabled\nentity = team\n")
    env = {"HOME": str(tmp_path), "WANDB_MODE": ""}
    res = expkit("wandb", "status", "--json", cwd=tmp_path, env=env)
    st = res.json()
    assert st["logged_in"] and st["mode"] == "disabled" and st["entity"] == "team", st
    assert "secretsecret" not in res.stdout
    text = expkit("wandb", "status", cwd=tmp_path, env=env).stdout
    assert "mode:      disabled" in text


def test_inject_cli_dry_run_then_inject_then_revert(expkit, tmp_path):
    script = tmp_path / "train.py"
    original = (SCRIPTS / "mnist_argparse.py").read_bytes()
    script.write_bytes(original)
    dry = expkit("wandb", "inject", script, "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0 and dry.stdout.startswith("--- a/") and "+    wandb.init(" in dry.stdout
    assert script.read_bytes() == original
    res = expkit("wandb", "inject", script, "--project", "mnist", "--json", cwd=tmp_path)
    out = res.json()
    assert out["changed"] and out["framework"] == "pytorch" and out["backup"].endswith("train.py.expkit-bak")
    assert {e["kind"] for e in out["edits"]} >= {"wandb.init", "wandb.log(loss)", "wandb.finish"}
    again = expkit("wandb", "inject", script, "--json", cwd=tmp_path).json()
    assert not again["changed"] and again["framework"] == "wandb" and again["existing_wandb"]
    back = expkit("wandb", "revert", script, cwd=tmp_path)
    assert back.returncode == 0 and script.read_bytes() == original
    assert expkit("wandb", "revert", script, cwd=tmp_path).returncode == 2


def test_inject_cli_refusals(expkit, tmp_path):
    script = tmp_path / "noloss.py"
    script.write_text("for i in range(3):\n    print(i)\n")
    res = expkit("wandb", "inject", script, "--json", cwd=tmp_path)
    assert res.returncode == 1 and res.json()["line"] == 1 and "wandb.log" in res.json()["snippet"]
    res = expkit("wandb", "inject", script, cwd=tmp_path)
    assert res.returncode == 1 and res.stderr.startswith("error:") and "hint:" in res.stderr
    tb = tmp_path / "tb.py"
    tb.write_bytes((SCRIPTS / "tensorboard_writer.py").read_bytes())
    res = expkit("wandb", "inject", tb, cwd=tmp_path)
    assert res.returncode == 1 and "--sync-tensorboard" in res.stderr
    assert expkit("wandb", "inject", tmp_path / "missing.py").returncode == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noloss.py", "tb.py"]


def test_help_does_not_import_libcst_or_wandb():
    code = ("import sys; from expkit.cli import main\n"
            "try:\n    main(['wandb', '--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'libcst' not in sys.modules and 'wandb' not in sys.modules, 'heavy import'\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "helpers")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_find_wandb_runs_orders_by_start_stamp(tmp_path):
    wandb_dir = tmp_path / "wandb"
    for name in ("run-20261122_120000-bbbb", "offline-run-20261121_090000-zzzz", "offline-run-20261122_130000-aaaa"):
        (wandb_dir / name / "files").mkdir(parents=True)
    (wandb_dir / "latest-run").mkdir()  # not a run dir
    assert [p.name for p in find_wandb_runs(tmp_path)] == [
        "offline-run-20261121_090000-zzzz", "run-20261122_120000-bbbb", "offline-run-20261122_130000-aaaa"]


@needs_wandb
def test_demo_section_injects_runs_reads_back_and_reverts(tmp_path):
    from expkit.inject.demo import wandb_section

    script = tmp_path / "train.py"
    original = ("import argparse, random\n\n\ndef main():\n    p = argparse.ArgumentParser()\n"
                "    p.add_argument('--epochs', type=int, default=3)\n    args = p.parse_args()\n"
                "    for epoch in range(args.epochs):\n        loss = 1.0 / (epoch + 1) + random.random() * 0.01\n"
                "        print(f'epoch={epoch} loss={loss:.3f}')\n\n\nif __name__ == '__main__':\n    main()\n")
    script.write_text(original)
    lines = []
    run = wandb_section(tmp_path, lines.append, args=())
    assert run["config"] == {"epochs": 3} and run["metrics"]["train/loss"]["count"] == 3
    assert script.read_text() == original and any("byte-identical to the original: True" in ln for ln in lines)


def test_synced_run_files_without_transaction_log(tmp_path):
    """An online run copied without its .wandb log: latest values from wandb-summary.json, config from YAML."""
    files = tmp_path / "wandb" / "run-20261122_101010-abcd1234" / "files"
    files.mkdir(parents=True)
    (files / "config.yaml").write_text("_wandb:\n  value: {}\nwandb_version: 1\nlr:\n  desc: null\n  value: 0.1\n")
    (files / "wandb-summary.json").write_text('{"train/loss": 0.25, "_step": 9, "_runtime": 3}')
    run = read_wandb_run(tmp_path)
    assert run["source"] == "files" and run["config"] == {"lr": 0.1} and run["run_id"] == "abcd1234"
    assert run["state"] == "unknown"
    assert run["metrics"] == {"train/loss": {"latest": 0.25, "step": 9, "best": None, "best_step": None,
                                             "goal": "min", "count": 0, "history": []}}
