"""`runs watch` / `runs metrics` on 15 real training-log formats (tests/realworld/logs/, see its README): each log's
step or epoch, training loss, evaluation series, speed and ETA as its answer key says; the step reported is the
script's own; `runs watch --timeout` prints a line only when something changed."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import expkit_env
from expkit.monitor import progress

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "realworld" / "logs"
_spec = importlib.util.spec_from_file_location("realworld_logs", ROOT / "benchmarks" / "realworld_logs.py")
board = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(board)


def test_corpus_has_15_formats_with_sources_and_answers():
    answers = json.loads((CORPUS / "answers.json").read_text())
    rows = [line.split("\t") for line in (CORPUS / "SOURCES.tsv").read_text().splitlines()[1:]]
    assert len(answers) >= 15 and {r[0] for r in rows} == set(answers)
    assert all((CORPUS / name).stat().st_size > 0 for name in answers)


@pytest.mark.parametrize("name", sorted(json.loads((CORPUS / "answers.json").read_text())))
def test_each_log_reads_as_its_answer_key_says(name):
    key = json.loads((CORPUS / "answers.json").read_text())[name]
    summary = progress.summarize(progress.records_from_text((CORPUS / name).read_bytes()))
    result = board.check(summary, key)
    assert all(result.values()), {k: ok for k, ok in result.items() if not ok} | {"got": summary}


def test_validation_and_test_losses_never_join_the_training_trend():
    """word_language_model prints `| epoch 1 | ... | loss 2.39` per batch and `| end of epoch | valid loss 2.28`."""
    recs = progress.records_from_text((CORPUS / "word_language_model.log").read_bytes())
    train = [r["loss"] for r in recs if "loss" in r]
    assert len(train) == 15 and 1.97 not in train  # 5 batch lines a epoch; valid/test 1.97 stay apart
    nanogpt = progress.records_from_text((CORPUS / "nanogpt.log").read_bytes())
    assert all("loss" not in r for r in nanogpt if "val_loss" in (r.get("eval") or {}))


def _launch_printing(expkit, repo, log: Path, then_wait: bool = False):
    """A real run whose stdout is a corpus log, printed by a real process."""
    dest = repo / log.name
    shutil.copy(log, dest)
    script = (f"import sys, os, pathlib, time\nsys.stdout.buffer.write(open({dest.name!r}, 'rb').read())\n"
              "sys.stdout.flush()\n")
    if then_wait:
        script += ("flag = pathlib.Path(os.environ['EXPKIT_RUN_DIR']) / 'go'\n"
                   "while not flag.exists():\n    time.sleep(0.05)\n")
    (repo / "replay.py").write_text(script)
    r = expkit("launch", "--runs-dir", repo / "runs", "--json", "--", sys.executable, "replay.py", cwd=repo)
    assert r.returncode == 0, r
    return r.json()["run_id"]


def test_runs_metrics_reports_the_scripts_step_not_a_count_of_log_lines(expkit, git_repo):
    run_id = _launch_printing(expkit, git_repo, CORPUS / "nanogpt.log")
    expkit("runs", "wait", run_id, "--runs-dir", git_repo / "runs", "--timeout", "60", cwd=git_repo)
    r = expkit("runs", "metrics", run_id, "--runs-dir", git_repo / "runs", "--source", "log", "--json", cwd=git_repo)
    m = r.json()["metrics"]
    assert m["loss"]["latest"] == 2.188 and m["loss"]["latest_step"] == 60  # `iter 60: loss 2.1880`, line ~70
    assert m["val_loss"]["latest"] == 2.1827 and m["val_loss"]["latest_step"] == 60
    assert m["val_loss"]["best_step"] == 60 and m["val_loss"]["count"] == 4  # evals at steps 0, 20, 40, 60


def test_runs_metrics_keeps_epochs_for_epoch_logs(expkit, git_repo):
    run_id = _launch_printing(expkit, git_repo, CORPUS / "keras_epoch_lines.log")
    expkit("runs", "wait", run_id, "--runs-dir", git_repo / "runs", "--timeout", "60", cwd=git_repo)
    m = expkit("runs", "metrics", run_id, "--runs-dir", git_repo / "runs", "--source", "log", "--json",
               cwd=git_repo).json()["metrics"]
    assert m["val_loss"]["latest"] == 0.2982 and m["val_loss"]["latest_epoch"] == 5
    assert m["val_loss"]["best_epoch"] == 5 and m["loss"]["count"] == 5


@pytest.mark.timeout(120)
def test_watch_prints_a_line_only_when_something_changed(git_repo):
    """A run prints a bar, waits, prints the next one, waits: watch polling every 0.1 s prints two lines."""
    (git_repo / "job.py").write_text(
        "import os, pathlib, time\n"
        "d = pathlib.Path(os.environ['EXPKIT_RUN_DIR'])\n"
        "print('Epoch 1:  10%|#         | 10/100 [00:01<00:09, 10.00it/s, loss=0.9]', flush=True)\n"
        "while not (d / 'next').exists():\n    time.sleep(0.05)\n"
        "print('Epoch 1:  20%|##        | 20/100 [00:02<00:08, 10.00it/s, loss=0.8]', flush=True)\n"
        "while not (d / 'go').exists():\n    time.sleep(0.05)\n")
    env = expkit_env()
    out = subprocess.run([sys.executable, "-m", "expkit", "launch", "--runs-dir", git_repo / "runs", "--json", "--",
                          sys.executable, "job.py"], cwd=git_repo, env=env, capture_output=True, text=True, timeout=60)
    run_id = json.loads(out.stdout)["run_id"]
    run_dir = git_repo / "runs" / run_id
    try:
        for _ in range(400):
            if b"10/100" in (run_dir / "stdout.log").read_bytes():
                break
            time.sleep(0.05)
        watch = subprocess.Popen([sys.executable, "-m", "expkit", "runs", "watch", run_id, "--runs-dir",
                                  git_repo / "runs", "--interval", "0.1", "--timeout", "6"], cwd=git_repo, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = watch.stdout.readline()
        assert "step 10/100" in first
        (run_dir / "next").write_text("")
        stdout, stderr = watch.communicate(timeout=60)
        assert watch.returncode == 124 and "still running" in stderr
        lines = [first] + stdout.splitlines()
        assert len(lines) == 2, lines  # ~60 polls, two changes
        assert "step 20/100" in lines[1] and "loss 0.8" in lines[1]
    finally:
        (run_dir / "next").write_text("")
        (run_dir / "go").write_text("")
    subprocess.run([sys.executable, "-m", "expkit", "runs", "wait", run_id, "--runs-dir", git_repo / "runs",
                    "--timeout", "60"], cwd=git_repo, env=env, capture_output=True, timeout=90)


def test_config_a_script_echoes_is_not_a_metric():
    """nanoGPT prints its config file and `Overriding: batch_size = 8` before training: settings, not metrics."""
    rows = []
    for r in progress.records_from_text((CORPUS / "nanogpt.log").read_bytes()):
        rows += list((r.get("metrics") or {}))
    assert "loss" in rows and "val_loss" in rows
    assert not {"batch_size", "eval_interval", "eval_iters", "block_size", "max_iters", "n_layer"} & set(rows)
    assert "vocab_size" not in rows  # `found vocab_size = 15 (inside data/synth_char/meta.pkl)`
    assert progress.parse_segment("Namespace(lr=0.1, epochs=10)") is None
    assert progress.parse_segment("epoch 3: loss=0.25 lr=0.1")["metrics"] == {"loss": 0.25, "lr": 0.1}


def test_sweep_reports_read_the_same_log_formats(tmp_path):
    """Found walking the planner: `sweep report` ranked word_language_model trials by nothing (`valid loss 2.26`)."""
    from expkit.analysis.metrics import run_metrics

    shutil.copy(CORPUS / "word_language_model.log", tmp_path / "stdout.log")
    m = run_metrics(tmp_path)
    assert m["valid_loss"]["final"] == 1.97 and m["valid_loss"]["count"] == 3 and m["test_loss"]["final"] == 1.97
    assert m["loss"]["count"] == 15
    shutil.copy(CORPUS / "nanogpt.log", tmp_path / "stdout.log")
    assert "eval_interval" not in run_metrics(tmp_path)  # its config echo


def test_sweep_reports_and_compare_skip_prose_numbers(tmp_path):
    """Found walking the planner on nanoGPT: `sweep report` listed `be: 256` (`tokens per iteration will be: 256`)
    and `tensors: 5` (`num non-decayed parameter tensors: 5, with 160 parameters`) as metrics."""
    from expkit.analysis.metrics import run_metrics

    shutil.copy(CORPUS / "nanogpt.log", tmp_path / "stdout.log")
    with open(tmp_path / "stdout.log", "a") as fh:
        fh.write("tokens per iteration will be: 256\nnum non-decayed parameter tensors: 5, with 160 parameters\n")
    m = run_metrics(tmp_path)
    assert "val_loss" in m and "loss" in m
    assert not {"be", "tensors", "vocab_size", "batch_size"} & set(m), sorted(m)


def test_a_warning_with_a_source_line_is_not_a_metric(tmp_path):
    """torch prints `(Triggered internally at /__w/pytorch/pytorch/torch/csrc/utils/tensor_numpy.cpp:84.)`:
    `runs compare` showed it as a metric column."""
    from expkit.analysis.metrics import run_metrics

    (tmp_path / "stdout.log").write_text(
        "UserWarning: Failed to initialize NumPy (Triggered internally at /__w/pytorch/torch/csrc/utils/"
        "tensor_numpy.cpp:84.)\nepoch 1: loss=0.5\n")
    assert set(run_metrics(tmp_path)) == {"loss"}
