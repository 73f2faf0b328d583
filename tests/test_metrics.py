"""`expkit runs metrics`: latest/best per metric from W&B offline, metrics.jsonl or the log, naming the source."""

from __future__ import annotations

import importlib.util
import sys
import textwrap

import pytest

from expkit.monitor.metrics import direction, summarize_rows


def _run(expkit, repo, script, *extra):
    (repo / "job.py").write_text(textwrap.dedent(script))
    r = expkit("launch", "--runs-dir", repo / "runs", *extra, "--json", "--", sys.executable, "job.py", cwd=repo)
    assert r.returncode == 0, r
    run_id = r.json()["run_id"]
    w = expkit("runs", "wait", run_id, "--runs-dir", repo / "runs", "--timeout", "120", cwd=repo)
    assert w.returncode == 0, w
    return run_id


def test_best_follows_the_metric_direction():
    rows = [{"step": 1, "loss": 0.9, "acc": 0.5, "lr": 1e-3}, {"step": 2, "loss": 0.4, "acc": 0.8, "lr": 5e-4},
            {"step": 3, "loss": 0.6, "acc": 0.7, "lr": float("nan")}]
    s = summarize_rows(rows)
    assert (s["loss"]["best"], s["loss"]["best_step"], s["loss"]["latest"]) == (0.4, 2, 0.6)
    assert (s["acc"]["best"], s["acc"]["best_step"]) == (0.8, 2)
    assert s["lr"]["best"] is None and s["lr"]["non_finite"] == 1
    assert "step" not in s
    assert direction("val/perplexity") == "min" and direction("eval_f1") == "max" and direction("lr") is None


def test_metrics_jsonl_is_preferred_over_the_log(expkit, git_repo):
    run_id = _run(expkit, git_repo, """
        import json, os
        path = os.path.join(os.environ["EXPKIT_RUN_DIR"], "metrics.jsonl")
        with open(path, "a") as fh:
            for step, (loss, acc) in enumerate([(1.0, 0.3), (0.5, 0.7), (0.7, 0.6)]):
                fh.write(json.dumps({"step": step, "train/loss": loss, "val/acc": acc}) + "\\n")
                print(f"step={step} loss={loss * 100}")
            fh.write('{"step": 3, "train/lo')  # a torn line is skipped
    """)
    r = expkit("runs", "metrics", run_id, "--runs-dir", git_repo / "runs", "--json", cwd=git_repo)
    d = r.json()
    assert r.returncode == 0 and d["source"] == "jsonl"
    assert d["metrics"]["train/loss"]["best"] == 0.5 and d["metrics"]["train/loss"]["latest"] == 0.7
    assert d["metrics"]["val/acc"]["best"] == 0.7 and d["metrics"]["val/acc"]["best_step"] == 1
    text = expkit("runs", "metrics", run_id, "--runs-dir", git_repo / "runs", cwd=git_repo).stdout
    assert "metrics from jsonl" in text and "train/loss" in text


def test_log_lines_are_the_last_resort(expkit, git_repo):
    run_id = _run(expkit, git_repo, """
        import sys
        for i in range(1, 5):
            print(f"epoch {i} | loss: {1 / i:.3f} | acc={0.2 * i:.2f} | 12:30:0{i}")
        bar = "\\r".join(f"{p}%|#| {p}/4 [00:01<00:01, 2.00it/s, loss=0.1{p}]" for p in range(1, 5))
        sys.stdout.write(bar + "\\n")
    """)
    d = expkit("runs", "metrics", run_id, "--runs-dir", git_repo / "runs", "--json", cwd=git_repo).json()
    assert d["source"] == "log"
    assert any("metrics.jsonl" in t for t in d["tried"])
    assert d["metrics"]["acc"]["best"] == 0.8
    assert d["metrics"]["loss"]["latest"] == 0.14 and d["metrics"]["loss"]["best"] == 0.11
    assert set(d["metrics"]) == {"loss", "acc"}  # timestamps are not metrics


def test_no_metrics_says_what_was_tried(expkit, git_repo):
    run_id = _run(expkit, git_repo, "print('hello')\n")
    r = expkit("runs", "metrics", run_id, "--runs-dir", git_repo / "runs", cwd=git_repo)
    assert r.returncode == 0 and "no metrics found" in r.stdout and "tried" in r.stdout
    r = expkit("runs", "metrics", run_id, "--runs-dir", git_repo / "runs", "--source", "jsonl", cwd=git_repo)
    assert r.returncode == 1


@pytest.mark.skipif(importlib.util.find_spec("wandb") is None, reason="wandb is not installed")
def test_wandb_offline_run(expkit, git_repo):
    """A real W&B run in offline mode, written into the run dir (--wandb-project sets WANDB_DIR)."""
    run_id = _run(expkit, git_repo, """
        import wandb
        run = wandb.init(mode="offline")
        for step, loss in enumerate([0.9, 0.3, 0.5]):
            run.log({"loss": loss, "acc": 1 - loss}, step=step)
        run.finish()
    """, "--wandb-project", "expkit-test")
    d = expkit("runs", "metrics", run_id, "--runs-dir", git_repo / "runs", "--json", cwd=git_repo).json()
    has_reader = importlib.util.find_spec("expkit.monitor.wandb_local") is not None
    if has_reader:
        assert d["source"] == "wandb" and "offline-run-" in d["detail"]
        assert d["metrics"]["loss"]["best"] == 0.3 and d["metrics"]["acc"]["latest"] == 0.5
    else:  # the offline reader is not in this checkout yet: the W&B folder is found and the fallback is said
        assert any("no W&B offline reader available" in t for t in d["tried"]), d
