"""`expkit runs compare` and `expkit runs classification` on real runs."""

from __future__ import annotations

import json
import sys

import pytest


def launch(expkit, cwd, *argv, config=None):
    args = ["launch", "--json"] + (["--config", config] if config else []) + ["--", sys.executable, *argv]
    r = expkit(*args, cwd=cwd)
    assert r.returncode == 0, r
    run_id = r.json()["run_id"]
    assert expkit("runs", "wait", run_id, "--timeout", "60", cwd=cwd).returncode == 0
    return run_id


def test_compare_shows_differing_config_and_marks_the_best(expkit, git_repo):
    (git_repo / "fit.py").write_text(
        "import json, os, sys\n"
        "lr = float(sys.argv[1])\n"
        "with open(os.path.join(os.environ['EXPKIT_RUN_DIR'], 'metrics.jsonl'), 'w') as fh:\n"
        "    for step in range(3):\n"
        "        fh.write(json.dumps({'step': step, 'val_loss': abs(lr - 0.01) + 1 / (step + 1), 'acc': lr}) + '\\n')\n")
    for name, lr in (("a.json", 0.1), ("b.json", 0.01)):
        (git_repo / name).write_text(json.dumps({"lr": lr, "model": {"depth": 4}, "epochs": 3}))
    ids = [launch(expkit, git_repo, "fit.py", "0.1", config="a.json"),
           launch(expkit, git_repo, "fit.py", "0.01", config="b.json")]
    r = expkit("runs", "compare", *ids, "--json", cwd=git_repo)
    assert r.returncode == 0, r
    out = r.json()
    assert "lr" in out["differing_keys"] and "model.depth" not in out["differing_keys"]
    assert out["same"]["model.depth"] == 4
    assert out["metric"] == "val_loss" and out["goal"] == "minimize" and out["best_run"] == ids[1]
    row = next(x for x in out["runs"] if x["run_id"] == ids[0])
    assert row["metrics"]["val_loss"]["final"] == pytest.approx(0.09 + 1 / 3)
    assert row["metrics"]["val_loss"]["best"] == pytest.approx(0.09 + 1 / 3)
    text = expkit("runs", "compare", *ids, "--metric", "acc", cwd=git_repo).stdout
    assert f"* best by acc (maximize): {ids[0]}" in text  # acc = lr: higher is better for acc


def test_compare_needs_two_runs(expkit, git_repo):
    r = expkit("runs", "compare", cwd=git_repo)
    assert r.returncode == 2 and "hint:" in r.stderr


def test_classification_report_and_confusion_matrix(expkit, git_repo):
    (git_repo / "clf.py").write_text(
        "import os\n"
        "rows = [('cat','cat'), ('cat','dog'), ('dog','dog'), ('dog','dog'), ('bird','cat'), ('bird','bird')]\n"
        "with open(os.path.join(os.environ['EXPKIT_RUN_DIR'], 'predictions.csv'), 'w') as fh:\n"
        "    fh.write('label,prediction\\n' + ''.join(f'{a},{b}\\n' for a, b in rows))\n")
    run_id = launch(expkit, git_repo, "clf.py")
    r = expkit("runs", "classification", run_id, "--json", cwd=git_repo)
    assert r.returncode == 0, r
    out = r.json()
    per = {x["class"]: x for x in out["per_class"]}
    assert per["dog"]["precision"] == pytest.approx(2 / 3) and per["dog"]["recall"] == 1.0
    assert per["cat"]["precision"] == pytest.approx(0.5) and per["cat"]["recall"] == pytest.approx(0.5)
    assert per["bird"]["f1"] == pytest.approx(2 / 3)
    assert out["accuracy"] == pytest.approx(4 / 6)
    assert out["classes"] == ["bird", "cat", "dog"]
    assert out["confusion_matrix"] == [[1, 1, 0], [0, 1, 1], [0, 0, 2]]
    png = open(out["plot"], "rb").read(8)
    assert png.startswith(b"\x89PNG")
    missing = expkit("runs", "classification", run_id, "--file", "nope.csv", cwd=git_repo)
    assert missing.returncode == 2 and "hint:" in missing.stderr
