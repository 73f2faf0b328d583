"""`expkit sweep run/resume/status` for real: CPU trials as real processes, the scheduler killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


from conftest import expkit_env

TRIAL = """\
import os, sys, time, json, argparse
ap = argparse.ArgumentParser()
ap.add_argument("--lr", type=float); ap.add_argument("--bs", type=int, default=32)
a = ap.parse_args()
here = os.path.dirname(os.path.abspath(__file__))
trial = os.environ["EXPKIT_TRIAL_ID"]
os.makedirs(os.path.join(here, "started"), exist_ok=True)
with open(os.path.join(here, "started", trial + "." + os.environ["EXPKIT_RUN_ID"]), "w") as fh:
    json.dump({k: os.environ.get(k) for k in ("WANDB_RUN_ID", "WANDB_RESUME", "EXPKIT_SEED", "CUDA_VISIBLE_DEVICES")}, fh)
gate = os.path.join(here, "release")
deadline = time.time() + 60
while os.environ.get("WAIT") and not os.path.exists(gate) and time.time() < deadline:
    time.sleep(0.02)
if os.path.exists(os.path.join(here, "fail_all")):
    print("Traceback (most recent call last):"); print("ValueError: bad config for lr", a.lr); sys.exit(3)
if os.path.exists(os.path.join(here, "oom")) and a.bs > 16:
    print("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"); sys.exit(1)
for step in range(3):
    print(f"step={step} loss={abs(a.lr - 0.01) + 1.0 / (step + 1) + a.bs / 1000:.5f}", flush=True)
with open(os.path.join(here, "ran.log"), "a") as fh:
    fh.write(trial + "\\n")
"""


def make_project(tmp_path: Path, n_lr: int = 3, extra: str = "") -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "trial.py").write_text(TRIAL)
    lrs = ", ".join(str(10 ** -(i + 1)) for i in range(n_lr))
    (proj / "sweep.yaml").write_text(
        f"name: night\nmethod: grid\nmetric: {{name: loss, goal: minimize}}\n"
        f"parameters:\n  lr: {{values: [{lrs}]}}\n  bs: {{values: [32, 64]}}\n"
        f"command: {sys.executable} trial.py --lr ${{lr}} --bs ${{bs}}\n{extra}")
    return proj


def wait_for(cond, timeout=60.0, what="condition"):
    """Wait for a state change (never a fixed sleep standing in for one)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def status_of(runs: Path, run_id: str) -> dict:
    try:
        return json.loads((runs / run_id / "status.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


def test_grid_sweep_runs_every_trial_as_a_run_in_the_group(expkit, tmp_path):
    proj = make_project(tmp_path)
    r = expkit("sweep", "run", "sweep.yaml", "--gpus", "none", "--max-parallel", "2", "--json", cwd=proj)
    assert r.returncode == 0, r
    out = r.json()
    assert out["counts"]["succeeded"] == 6 and out["started"] == 6
    runs = expkit("runs", "list", "--group", "night", "--json", cwd=proj).json()["runs"]
    assert len(runs) == 6 and {x["state"] for x in runs} == {"succeeded"}
    assert sorted((proj / "ran.log").read_text().split()) == [f"t000{i}" for i in range(1, 7)]
    manifest = json.loads((proj / "runs" / runs[0]["run_id"] / "manifest.json").read_text())
    assert manifest["group"] == "night" and manifest["sweep"]["trial_id"].startswith("t000")
    assert manifest["env"]["WANDB_RESUME"] == "allow"
    # running the same command again resumes: nothing is run twice
    again = expkit("sweep", "run", "sweep.yaml", "--gpus", "none", "--json", cwd=proj)
    assert again.returncode == 0 and again.json()["started"] == 0
    assert len((proj / "ran.log").read_text().split()) == 6
    st = expkit("sweep", "status", "night", cwd=proj)
    assert "6/6 done" in st.stdout


def test_dry_run_prints_trials_and_starts_nothing(expkit, tmp_path):
    proj = make_project(tmp_path)
    r = expkit("sweep", "run", "sweep.yaml", "--dry-run", "--gpus", "none", "--json", cwd=proj)
    assert r.returncode == 0, r
    trials = r.json()["trials"]
    assert len(trials) == 6 and trials[0]["command"][-4:] == ["--lr", "0.1", "--bs", "32"]
    assert not (proj / "runs").exists()


def test_kill_9_of_the_scheduler_loses_and_duplicates_nothing(expkit, tmp_path):
    """SIGKILL the scheduler with two trials running; then kill one trial's supervisor and command too (as a
    reboot would). The resumed sweep adopts nothing twice, records the one that finished on its own, re-runs the
    lost one with the same trial id, seed and W&B run id, and runs the rest exactly once."""
    proj = make_project(tmp_path)
    runs = proj / "runs"
    env = expkit_env({"WAIT": "1"})
    sched = subprocess.Popen([sys.executable, "-m", "expkit", "sweep", "run", "sweep.yaml", "--gpus", "none",
                              "--max-parallel", "2"], cwd=proj, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    started = proj / "started"
    wait_for(lambda: started.is_dir() and len(os.listdir(started)) == 2, what="two trials running")
    os.kill(sched.pid, signal.SIGKILL)
    sched.wait()
    first = {name.split(".")[0]: name.split(".", 1)[1] for name in os.listdir(started)}
    assert set(first) == {"t0001", "t0002"}
    lost_run = first["t0002"]
    st = status_of(runs, lost_run)
    os.kill(st["supervisor_pid"], signal.SIGKILL)  # supervisor first, so nobody records the end
    os.killpg(st["pgid"], signal.SIGKILL)
    (proj / "release").write_text("")
    wait_for(lambda: status_of(runs, first["t0001"]).get("state") == "succeeded", what="t0001 to finish alone")
    assert expkit("runs", "show", lost_run, "--json", cwd=proj).json()["status"]["state"] == "lost"

    r = expkit("sweep", "resume", "night", "--gpus", "none", "--max-parallel", "2", "--json", cwd=proj,
               env={"WAIT": "1"})
    assert r.returncode == 0, r
    out = r.json()
    assert out["counts"]["succeeded"] == 6
    assert out["requeued"] == 1  # the lost one
    ran = (proj / "ran.log").read_text().split()
    assert sorted(ran) == [f"t000{i}" for i in range(1, 7)]  # each exactly once
    markers = sorted(os.listdir(started))
    t2 = [json.loads((started / m).read_text()) for m in markers if m.startswith("t0002.")]
    assert len(t2) == 2 and t2[0]["WANDB_RUN_ID"] == t2[1]["WANDB_RUN_ID"] and t2[0]["EXPKIT_SEED"] == t2[1]["EXPKIT_SEED"]
    assert t2[1]["WANDB_RESUME"] == "allow"
    assert len([m for m in markers if m.startswith("t0001.")]) == 1  # finished alone, not run again
    job = json.loads((runs / ".sweeps" / "night" / "jobs" / "t0002.json").read_text())
    assert [a["state"] for a in job["attempts"]] == ["lost", "succeeded"]
    # no run is left queued (prepared ahead and never started) in the runs dir
    states = [x["state"] for x in expkit("runs", "list", "--json", cwd=proj).json()["runs"]]
    assert "queued" not in states and states.count("succeeded") == 6


def test_systematic_failures_stop_the_sweep(expkit, tmp_path):
    proj = make_project(tmp_path, n_lr=5, extra="stop_after_same_failures: 3\n")
    (proj / "fail_all").write_text("")
    r = expkit("sweep", "run", "sweep.yaml", "--gpus", "none", "--json", cwd=proj)
    assert r.returncode == 1
    out = r.json()
    assert "first 3 jobs failed the same way" in out["stopped_reason"] and "ValueError" in out["stopped_reason"]
    assert out["counts"]["failed"] == 3 and out["counts"]["pending"] == 7  # 10 trials, only 3 burned
    # after fixing the cause, resume runs what is left (and --retry-failed the failed ones)
    (proj / "fail_all").unlink()
    r2 = expkit("sweep", "resume", "night", "--gpus", "none", "--retry-failed", "--json", cwd=proj)
    assert r2.returncode == 0, r2
    assert r2.json()["counts"]["succeeded"] == 10


def test_retries_with_backoff_and_oom_retry_with_smaller_batch(expkit, tmp_path):
    proj = make_project(tmp_path, n_lr=1, extra="oom: {param: bs, factor: 0.25}\nstop_after_same_failures: 0\n")
    (proj / "oom").write_text("")
    r = expkit("sweep", "run", "sweep.yaml", "--gpus", "none", "--json", cwd=proj)
    assert r.returncode == 0, r
    for tid, bs in (("t0001", 8), ("t0002", 16)):
        job = json.loads((proj / "runs" / ".sweeps" / "night" / "jobs" / f"{tid}.json").read_text())
        assert [a["state"] for a in job["attempts"]] == ["failed", "succeeded"]
        assert job["attempts"][0]["oom"] is True and job["params"]["bs"] == bs
        assert job["argv"][-1] == str(bs)


def test_failed_trial_is_retried_then_reported(expkit, tmp_path):
    proj = make_project(tmp_path, n_lr=1, extra="retries: 1\nbackoff_s: 0.05\nstop_after_same_failures: 0\n")
    (proj / "fail_all").write_text("")
    r = expkit("sweep", "run", "sweep.yaml", "--gpus", "none", "--json", cwd=proj)
    assert r.returncode == 1
    assert r.json()["counts"]["failed"] == 2
    job = json.loads((proj / "runs" / ".sweeps" / "night" / "jobs" / "t0001.json").read_text())
    assert [a["state"] for a in job["attempts"]] == ["failed", "failed"]
    assert "ValueError" in job["attempts"][0]["signature"]


def test_changed_spec_under_the_same_name_is_refused(expkit, tmp_path):
    proj = make_project(tmp_path, n_lr=1)
    assert expkit("sweep", "run", "sweep.yaml", "--gpus", "none", cwd=proj).returncode == 0
    text = (proj / "sweep.yaml").read_text().replace("[32, 64]", "[32, 128]")
    (proj / "sweep.yaml").write_text(text)
    r = expkit("sweep", "run", "sweep.yaml", "--gpus", "none", cwd=proj)
    assert r.returncode == 2 and "different spec" in r.stderr and "hint:" in r.stderr


def test_bayes_needs_optuna_or_runs_with_it(expkit, tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "t.py").write_text("import sys; x = float(sys.argv[1].split('=')[1]); print(f'loss={(x - 0.3) ** 2}')\n")
    (proj / "b.yaml").write_text(f"method: bayes\nmax_trials: 6\nmetric: {{name: loss, goal: minimize}}\n"
                                 f"parameters: {{x: {{min: 0.0, max: 1.0}}}}\ncommand: {sys.executable} t.py\n")
    r = expkit("sweep", "run", "b.yaml", "--gpus", "none", "--json", cwd=proj)
    try:
        import optuna  # noqa: F401
    except ImportError:
        assert r.returncode == 2 and "needs optuna" in r.stderr
        return
    assert r.returncode == 0, r
    jobs = [json.loads(p.read_text()) for p in (proj / "runs" / ".sweeps" / "b" / "jobs").glob("*.json")]
    assert len(jobs) == 6 and all(0.0 <= j["params"]["x"] <= 1.0 and "metric_value" in j for j in jobs)


def test_a_run_prepared_but_never_recorded_is_removed_on_resume(expkit, tmp_path):
    """A scheduler killed between creating a trial's run and writing it into the job file leaves a run no job
    knows, `queued` forever: the next scheduler of that sweep removes it (a crash injected exactly there)."""
    from expkit.runs.launch import prepare
    from expkit.sweeps.batch import Batch
    from expkit.sweeps.gpus import Slot
    from expkit.sweeps.spec import load_spec
    from expkit.sweeps.trials import RunOptions, sweep_request

    proj = make_project(tmp_path, n_lr=1)
    assert expkit("sweep", "run", "sweep.yaml", "--dry-run", cwd=proj).returncode == 0
    spec = load_spec(proj / "sweep.yaml")
    from expkit.sweeps.sweep import open_sweep

    batch, _ = open_sweep(spec, proj / "runs", proj)
    job = batch.load_job("t0001")
    orphan, _env, _w = prepare(sweep_request(spec, batch, RunOptions(), proj / "runs", False)(job, Slot("cpu#0")))
    assert orphan.raw_status()["state"] == "queued" and not batch.load_job("t0001")["attempts"]
    r = expkit("sweep", "run", "sweep.yaml", "--gpus", "none", "--json", cwd=proj)
    assert r.returncode == 0, r
    # (within the same second the trial's new run may take the removed run's name: then it is that new run)
    assert not orphan.path.exists() or orphan.raw_status()["state"] == "succeeded"
    states = [x["state"] for x in expkit("runs", "list", "--json", cwd=proj).json()["runs"]]
    assert states == ["succeeded", "succeeded"]  # no run left queued
