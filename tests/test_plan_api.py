"""What handlers see: ResultsWriter (safe paths, numpy/torch conversion), log_metrics (local + W&B offline)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from expkit.plan.api import ExperimentRunner, ResultsWriter, check_result
from fixtures.plans.projects import load_yaml, project


def test_artifact_paths_stay_inside_the_artifacts_dir(tmp_path):
    writer = ResultsWriter(tmp_path)
    assert writer.save_artifact("a/b.txt", "hi") == "artifacts/a/b.txt"
    assert (tmp_path / "artifacts" / "a" / "b.txt").read_text() == "hi"
    assert writer.save_artifact("raw.bin", b"\x00\x01") == "artifacts/raw.bin"
    for bad in ("../x.txt", "a/../../x.txt", "/etc/passwd", ""):
        with pytest.raises(ValueError, match="inside the artifacts dir"):
            writer.get_artifact_path(bad)
    assert not (tmp_path / "x.txt").exists()


def test_json_artifacts_convert_numpy_and_torch_and_write_nan_explicitly(tmp_path):
    import numpy as np
    import torch

    writer = ResultsWriter(tmp_path)
    rel = writer.save_json_artifact("m.json", {"arr": np.arange(3), "f": np.float32(0.5), "nan": float("nan"),
                                               "inf": -math.inf, "t": torch.tensor([1.5, 2.5], requires_grad=True),
                                               "s": torch.tensor(3)})
    assert json.loads((tmp_path / rel).read_text()) == {"arr": [0, 1, 2], "f": 0.5, "nan": "NaN", "inf": "-Infinity",
                                                        "t": [1.5, 2.5], "s": 3}


def test_handler_results_are_checked_and_scalars_converted():
    import numpy as np

    ok = check_result({"finding": "x", "metrics": {"a": np.float64(0.5), "b": 2}, "artifacts": []})
    assert ok["metrics"] == {"a": 0.5, "b": 2} and type(ok["metrics"]["a"]) is float
    with pytest.raises(ValueError, match="returned NoneType"):
        check_result(None)
    with pytest.raises(ValueError, match="unexpected notes"):
        check_result({"finding": "x", "metrics": {}, "artifacts": [], "notes": 1})
    with pytest.raises(ValueError, match="metric 'a'.*not a number"):
        check_result({"finding": "x", "metrics": {"a": "high"}, "artifacts": []})
    with pytest.raises(ValueError, match="not a single number"):
        check_result({"finding": "x", "metrics": {"a": np.arange(3)}, "artifacts": []})


def test_log_metrics_writes_metrics_jsonl(tmp_path):
    import numpy as np

    runner = ExperimentRunner(experiment_id="c1-x", sub_experiment_id="e1_1", seed=0, config={},
                              experiment_dir=tmp_path, run_dir=tmp_path)
    runner.log_metrics({"loss": np.float32(0.5), "acc": 1})
    runner.log_metrics({"loss": 0.25}, step=10)
    with pytest.raises(TypeError, match="metric 'loss'"):
        runner.log_metrics({"loss": "low"})
    runner.close()
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["_step"], r["loss"]) for r in rows] == [(0, 0.5), (10, 0.25)] and rows[0]["acc"] == 1


def test_wandb_offline_run_has_names_prefixed_by_sub_experiment(tmp_path, expkit):
    proj = project(tmp_path)
    r = expkit("plan", "run", "lab-curve", cwd=proj, env={"WANDB_MODE": "offline"})
    assert r.returncode == 0, r
    doc = load_yaml(proj / "research" / "experiments" / "lab-curve" / "results.yaml")
    run_dir = proj / "runs" / doc["expkit"]["runs"]["curve"][0]["run_id"]
    wandb_bin = Path(sys.executable).parent / "wandb"
    out = subprocess.run([str(wandb_bin), "leet", "inspect", "--summary", "--json", str(run_dir / "wandb" /
                                                                                           "latest-run")],
                         capture_output=True, text=True, timeout=60)
    summary = json.loads(out.stdout)
    assert summary["name"] == "lab-curve/curve" and summary["state"] == "finished"
    assert summary["summary"]["curve/loss"] == pytest.approx(0.2)
    assert summary["summary"]["curve/accuracy"] == pytest.approx(0.9)
    assert summary["step"] == 4
    local = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [row["loss"] for row in local] == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2])
    # artifacts: numpy converted, unsafe paths refused, everything listed in results.yaml
    entry = doc["results"]["experiments"]["curve"]
    assert entry["finding"] == "refused 2 unsafe artifact paths"
    assert entry["artifacts"] == ["artifacts/arrays.json", "artifacts/notes/hello.txt"]
    saved = json.loads((proj / "research" / "experiments" / "lab-curve" / "artifacts" / "arrays.json").read_text())
    assert saved == {"weights": [0, 1, 2], "nan": "NaN", "scalar": 2.5}
    assert not (proj / "research" / "experiments" / "lab-curve" / "escape.txt").exists()
    assert (proj / "research" / "experiments" / "lab-curve" / "plots" / "metrics.png").stat().st_size > 1000
