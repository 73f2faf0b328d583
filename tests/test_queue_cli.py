"""`expkit queue add/run/status` on the CPU: real jobs, real runs, a queue that takes jobs while it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from conftest import expkit_env


def test_add_run_status(expkit, tmp_path):
    for i in range(3):
        r = expkit("queue", "add", "--json", "--", sys.executable, "-c", f"print('job {i}')", cwd=tmp_path)
        assert r.returncode == 0, r
        assert r.json()["job_id"] == f"j000{i + 1}"
    st = expkit("queue", "status", "--json", cwd=tmp_path).json()
    assert st["counts"]["pending"] == 3
    r = expkit("queue", "run", "--gpus", "none", "--max-parallel", "2", "--json", cwd=tmp_path)
    assert r.returncode == 0, r
    assert r.json()["counts"]["succeeded"] == 3
    runs = expkit("runs", "list", "--group", "queue-default", "--json", cwd=tmp_path).json()["runs"]
    assert len(runs) == 3 and all(x["state"] == "succeeded" for x in runs)
    text = expkit("queue", "status", cwd=tmp_path).stdout
    assert "3/3 done" in text


def test_jobs_added_while_the_queue_runs_are_picked_up(expkit, tmp_path):
    gate = tmp_path / "go"
    waiter = f"import os, time\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.02)\n"
    assert expkit("queue", "add", "--", sys.executable, "-c", waiter, cwd=tmp_path).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "expkit", "queue", "run", "--gpus", "none", "--json"],
                            cwd=tmp_path, env=expkit_env(), stdout=subprocess.PIPE, text=True)
    jobs = tmp_path / "runs" / ".queue" / "default" / "jobs"
    deadline = time.monotonic() + 60
    while json.loads((jobs / "j0001.json").read_text())["state"] != "running":  # wait for the state, not a time
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert expkit("queue", "add", "--", sys.executable, "-c", "print('late')", cwd=tmp_path).returncode == 0
    gate.write_text("")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert json.loads(out)["counts"]["succeeded"] == 2


def test_second_scheduler_on_the_same_queue_is_refused(expkit, tmp_path):
    gate = tmp_path / "go"
    waiter = f"import os, time\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.02)\n"
    expkit("queue", "add", "--", sys.executable, "-c", waiter, cwd=tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "expkit", "queue", "run", "--gpus", "none"], cwd=tmp_path,
                            env=expkit_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lock_holder = tmp_path / "runs" / ".queue" / "default" / "scheduler.json"
        deadline = time.monotonic() + 60
        while not lock_holder.exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        r = expkit("queue", "run", "--gpus", "none", cwd=tmp_path)
        assert r.returncode == 2 and "already working" in r.stderr and "hint:" in r.stderr
    finally:
        gate.write_text("")
        proc.wait(timeout=60)


def test_empty_queue_and_missing_command(expkit, tmp_path):
    r = expkit("queue", "run", "--gpus", "none", cwd=tmp_path)
    assert r.returncode == 2 and "empty" in r.stderr and "hint:" in r.stderr
    r = expkit("queue", "add", cwd=tmp_path)
    assert r.returncode == 2


def test_queue_add_env_reaches_the_job_and_shared_outputs_are_warned(expkit, tmp_path):
    code = "import os; print('mode', os.environ.get('WANDB_MODE'))"
    for _ in range(2):
        r = expkit("queue", "add", "--env", "WANDB_MODE=offline", "--", sys.executable, "-c", code, "--save",
                   "model.pt", cwd=tmp_path)
        assert r.returncode == 0, r
    r = expkit("queue", "run", "--gpus", "none", "--max-parallel", "2", cwd=tmp_path, env={"WANDB_MODE": "online"})
    assert r.returncode == 0, r
    assert "2 jobs write the same --save model.pt (j0001, j0002)" in r.stderr
    logs = [p.read_text() for p in (tmp_path / "runs").glob("*/stdout.log")]
    assert len(logs) == 2 and all("mode offline" in log for log in logs)
