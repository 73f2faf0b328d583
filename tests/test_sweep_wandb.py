"""A retried trial keeps its W&B run id: real wandb runs in offline mode, read back with `wandb leet inspect`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

wandb = pytest.importorskip("wandb")

TRIAL = """\
import os, sys, wandb
run = wandb.init()
wandb.log({"loss": float(sys.argv[1])})
first = not os.path.exists("attempted")
open("attempted", "a").close()
run.finish(exit_code=1 if first else 0)
sys.exit(1 if first else 0)
"""


def test_retried_trial_resumes_the_same_wandb_run(expkit, tmp_path):
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "t.py").write_text(TRIAL)
    (proj / "s.yaml").write_text("name: wb\nproject: expkit-test\nmethod: grid\nretries: 1\nbackoff_s: 0.01\n"
                                 "stop_after_same_failures: 0\nparameters: {loss: {values: [0.5]}}\n"
                                 f"command: {sys.executable} t.py ${{loss}}\n")
    r = expkit("sweep", "run", "s.yaml", "--gpus", "none", "--json", cwd=proj, timeout=180)
    assert r.returncode == 0, r
    job = json.loads((proj / "runs" / ".sweeps" / "wb" / "jobs" / "t0001.json").read_text())
    assert [a["state"] for a in job["attempts"]] == ["failed", "succeeded"]
    ids = []
    for att in job["attempts"]:
        offline = list((proj / "runs" / att["run_id"] / "wandb").glob("offline-run-*"))
        assert len(offline) == 1
        ids.append(offline[0].name.rsplit("-", 1)[1])
    assert ids == [job["wandb_run_id"], job["wandb_run_id"]]
    wandb_cli = shutil.which("wandb", path=str(Path(sys.executable).parent))
    if wandb_cli:
        second = next((proj / "runs" / job["attempts"][1]["run_id"] / "wandb").glob("offline-run-*"))
        out = subprocess.run([wandb_cli, "leet", "inspect", "--summary", "--json", str(second)], capture_output=True,
                             text=True, timeout=120)
        if out.returncode == 0:
            data = json.loads(out.stdout)
            assert data["run_id"] == job["wandb_run_id"] and data["project"] == "expkit-test"
