"""`expkit loop --backend slurm` against a real Slurm cluster on localhost (tests/slurm_cluster.py): each trial's
seeds are one job array, the budget is enforced by cancelling the job (Slurm's SIGTERM, then SIGKILL after its
KillWait), and keep/discard/reset work as locally. Skipped with the reason when slurm-wlm / munge are missing.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from slurm_cluster import slurm_cluster  # noqa: F401  (fixture)

from test_loop import BUDGET_SCRIPT, SCRIPT, _mean, _repo, _shift


def _manifest(repo, run_id):
    return json.loads((repo / "runs" / run_id / "manifest.json").read_text())


def _init(expkit, repo, env, *extra):
    r = expkit("loop", "init", "lr", "--metric", "val_loss", "--goal", "min", "--seeds", "3", "--backend", "slurm",
               "--partition", "debug", "--mem", "100M", *extra, "--json", "--", sys.executable, "train.py",
               cwd=repo, env=env, timeout=300)
    assert r.returncode == 0, r
    return r.json()


def _arrays(repo, run_ids):
    return [_manifest(repo, rid)["backend"]["array"]["job_id"] for rid in run_ids]


@pytest.mark.timeout(450)
def test_each_trial_is_one_job_array_and_keeps_and_discards_as_locally(slurm_cluster, tmp_path, expkit):
    env = slurm_cluster.env
    repo = _repo(tmp_path, SCRIPT)
    out = _init(expkit, repo, env)
    base = out["baseline"]
    assert len(set(_arrays(repo, base["run_ids"]))) == 1 and len(base["run_ids"]) == 6  # 2K seeds, one array
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()

    (repo / "train.py").write_text(SCRIPT + "# nothing\n")
    null = expkit("loop", "try", "lr", "-m", "a comment", "--json", cwd=repo, env=env, timeout=300).json()
    assert null["decision"] == "discard" and null["values"] == base["values"][:3]
    assert len(set(_arrays(repo, null["run_ids"]))) == 1
    assert subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip() == head

    _shift(repo, "-0.5")
    kept = expkit("loop", "try", "lr", "-m", "better", "--json", cwd=repo, env=env, timeout=300).json()
    assert kept["decision"] == "keep"
    assert kept["delta"] == pytest.approx(_mean(base["values"]) - (_mean(base["values"][:3]) - 0.5), abs=1e-6)
    first, reference = _arrays(repo, kept["run_ids"][:3]), _arrays(repo, kept["run_ids"][3:])
    assert len(set(first)) == 1 and len(set(reference)) == 1 and first[0] != reference[0]
    assert all(_manifest(repo, rid)["backend"]["name"] == "slurm" for rid in kept["run_ids"])


@pytest.mark.timeout(450)
def test_the_budget_cancels_the_jobs_and_the_metric_printed_on_sigterm_counts(slurm_cluster, tmp_path, expkit):
    env = slurm_cluster.env
    repo = _repo(tmp_path, BUDGET_SCRIPT)
    out = _init(expkit, repo, env, "--budget", "2s")
    assert len(out["baseline"]["values"]) == 6
    for rid in out["baseline"]["run_ids"]:
        st = json.loads((repo / "runs" / rid / "status.json").read_text())
        assert st["state"] == "stopped", st
        assert "training" in (repo / "runs" / rid / "stdout.log").read_text()


@pytest.mark.timeout(450)
def test_kill9_of_try_while_its_array_runs_then_resume_adopts_the_jobs(slurm_cluster, tmp_path, expkit):
    import os
    import signal
    import time

    from conftest import expkit_env
    from test_loop import GATED, _ledger

    env = slurm_cluster.env
    repo = _repo(tmp_path, GATED)
    base = _init(expkit, repo, env)["baseline"]
    (repo / "train.py").write_text(GATED + "# a null change\n")
    gate = tmp_path / "gate"
    proc = subprocess.Popen([sys.executable, "-m", "expkit", "loop", "try", "lr", "-m", "null", "--json"], cwd=repo,
                            env=expkit_env({**env, "GATE": str(gate)}), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    record = repo / "runs" / ".loops" / "lr" / "trials" / "0001" / "runs.json"
    deadline = time.monotonic() + 120
    while not record.exists():  # submitted: the array's run ids are on disk (a state, not a time)
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    gate.write_text("go")
    r = expkit("loop", "resume", "lr", "--json", cwd=repo, env=env, timeout=300)
    assert r.returncode == 0, r
    res = r.json()
    assert res["resumed"] == 1 and res["decision"] == "discard" and res["values"] == base["values"][:3]
    assert sorted(res["run_ids"]) == sorted(json.loads(record.read_text()))  # the same jobs, none submitted again
    assert len(list((repo / "runs").glob("loop-lr-t0001-s*"))) == 3
    assert [e["trial"] for e in _ledger(repo)] == [0, 1]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert head == base["commit"]
