"""Early termination on real runs: a trial that trails the others is stopped while it runs.

The trailing trial never ends on its own (it logs until stopped, 60 s at most), so the test does not depend on
when the scheduler looks: it only passes if the scheduler stopped it.
"""

from __future__ import annotations

import json
import sys

import pytest

TRIAL = """\
import json, os, sys, time
q = float(sys.argv[1])
out = open(os.path.join(os.environ["EXPKIT_RUN_DIR"], "metrics.jsonl"), "a")
deadline = time.time() + 60
step = 0
while (step < 8) if q < 5 else (time.time() < deadline):
    out.write(json.dumps({"step": step, "loss": q / (step + 1)}) + "\\n"); out.flush()
    step += 1
    if q >= 5:
        time.sleep(0.02)
"""


@pytest.mark.parametrize("rule", ["{type: median, min_trials: 3, warmup: 2}", "{type: hyperband, min_iter: 2, eta: 2}"])
def test_trailing_trial_is_stopped_early(expkit, tmp_path, rule):
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "t.py").write_text(TRIAL)
    (proj / "s.yaml").write_text(f"name: et\nmethod: grid\nmetric: {{name: loss, goal: minimize}}\n"
                                 f"parameters: {{q: {{values: [1.0, 1.5, 2.0, 9.0]}}}}\nearly_terminate: {rule}\n"
                                 f"command: {sys.executable} t.py ${{q}}\n")
    r = expkit("sweep", "run", "s.yaml", "--gpus", "none", "--json", cwd=proj, timeout=120)
    assert r.returncode == 0, r
    assert r.json()["counts"] == {"pending": 0, "running": 0, "succeeded": 3, "failed": 0, "stopped": 0,
                                  "early_stopped": 1}
    job = json.loads((proj / "runs" / ".sweeps" / "et" / "jobs" / "t0004.json").read_text())
    assert job["state"] == "early_stopped" and job["attempts"][-1]["early_stop"]
    assert job["attempts"][-1]["state"] == "stopped"  # ended by the scheduler's stop request, not on its own
    assert ("median" in job["attempts"][-1]["early_stop"]) == ("median" in rule)
