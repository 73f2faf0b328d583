"""`expkit sweep run --backend slurm` and `expkit plan run --backend slurm` against a real Slurm cluster on
localhost (tests/slurm_cluster.py). Skipped with the reason when slurm-wlm / munge are not installed.

Nothing waits on a clock: `sweep run` and `plan run` block until Slurm reports every job ended.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from slurm_cluster import slurm_cluster  # noqa: F401  (fixture)

from conftest import expkit_env
from fixtures.plans.projects import load_yaml, project

TRIAL = """\
import argparse
ap = argparse.ArgumentParser()
ap.add_argument("--lr", type=float); ap.add_argument("--bs", type=int)
a = ap.parse_args()
for step in range(3):
    print(f"step={step} loss={a.lr * a.bs + 1.0 / (step + 1):.5f}", flush=True)
"""


def _sweep_project(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "trial.py").write_text(TRIAL)
    (proj / "sweep.yaml").write_text(
        "name: cluster\nmethod: grid\nmetric: {name: loss, goal: minimize}\n"
        "parameters:\n  lr: {values: [0.1, 0.01]}\n  bs: {values: [2, 4]}\n"
        f"command: {sys.executable} trial.py --lr ${{lr}} --bs ${{bs}}\n")
    return proj


def test_sweep_is_one_job_array_with_a_concurrency_limit(slurm_cluster, tmp_path, expkit):
    proj = _sweep_project(tmp_path)
    env = slurm_cluster.env
    r = expkit("sweep", "run", "sweep.yaml", "--backend", "slurm", "--partition", "debug", "--max-parallel", "2",
               "--time", "5:00", "--mem", "100M", "--json", cwd=proj, env=env)
    assert r.returncode == 0, r
    out = r.json()
    assert out["backend"] == "slurm" and out["counts"]["succeeded"] == 4
    jobs = [s["job_id"] for s in out["submitted"]]
    array = jobs[0].split("_")[0]
    assert jobs == [f"{array}_{i}" for i in range(4)]  # one array, one task per trial

    runs = proj / "runs"
    manifest = json.loads((runs / out["submitted"][0]["run_id"] / "manifest.json").read_text())
    assert manifest["group"] == "cluster" and manifest["backend"]["array"]["limit"] == 2
    script = Path(manifest["backend"]["array"]["script"]).read_text()
    assert "#SBATCH --array=0-3%2" in script and "#SBATCH --partition=debug" in script

    status = expkit("sweep", "status", "cluster", "--json", cwd=proj, env=env).json()
    assert status["backend"] == "slurm" and status["done"] == 4
    assert sorted(j["backend_job_id"] for j in status["jobs"]) == jobs
    assert all(j["state"] == "succeeded" and j["run_state"] == "succeeded" for j in status["jobs"])
    text = expkit("sweep", "status", "cluster", cwd=proj, env=env).stdout
    assert "4/4 done (on slurm)" in text

    report = expkit("sweep", "report", "cluster", "--no-plots", "--json", cwd=proj, env=env).json()
    assert report["metric"] == "loss"
    assert report["best"]["params"] == {"lr": 0.01, "bs": 2}  # 0.02 + 0.333: the lowest final loss
    assert len(report["trials"]) == 4

    again = expkit("sweep", "run", "sweep.yaml", "--backend", "slurm", "--json", cwd=proj, env=env)
    assert again.returncode == 0 and again.json()["submitted"] == []  # finished trials are not submitted again


def test_detached_sweep_is_followed_by_status_and_resume_retries_failures(slurm_cluster, tmp_path, expkit):
    proj = _sweep_project(tmp_path)
    (proj / "trial.py").write_text("import sys\nsys.exit('lr too high') if '0.1' in sys.argv else None\n" + TRIAL)
    env = slurm_cluster.env
    r = expkit("sweep", "run", "sweep.yaml", "--backend", "slurm", "--detach", "--retries", "1", cwd=proj, env=env)
    assert r.returncode == 0, r
    assert "submitted to slurm: 4 trial(s)" in r.stdout
    assert "retries and OOM retries are not automatic on slurm" in r.stderr
    resumed = expkit("sweep", "resume", "cluster", "--json", cwd=proj, env=env)  # follows the same array
    assert resumed.returncode == 1, resumed  # two trials failed
    assert resumed.json()["submitted"] == [] and resumed.json()["counts"]["failed"] == 2
    status = expkit("sweep", "status", "cluster", "--json", cwd=proj, env=env).json()
    failed = {j["id"]: j for j in status["jobs"] if j["state"] == "failed"}
    assert all("--lr 0.1 " in j["command"] for j in failed.values())

    (proj / "trial.py").write_text(TRIAL)  # fixed: resubmit only the failed ones, as a new array
    retry = expkit("sweep", "resume", "cluster", "--retry-failed", "--json", cwd=proj, env=env)
    assert retry.returncode == 0, retry
    out = retry.json()
    assert sorted(s["trial"] for s in out["submitted"]) == sorted(failed)
    assert out["counts"]["succeeded"] == 4
    status = expkit("sweep", "status", "cluster", "--json", cwd=proj, env=env).json()
    assert all(j["attempts"] == 2 for j in status["jobs"] if j["id"] in failed)


def test_sweep_with_a_bad_partition_records_nothing_as_running(slurm_cluster, tmp_path, expkit):
    proj = _sweep_project(tmp_path)
    r = expkit("sweep", "run", "sweep.yaml", "--backend", "slurm", "--partition", "nosuch", cwd=proj,
               env=slurm_cluster.env)
    assert r.returncode == 2, r
    assert "error: sbatch rejected the options:" in r.stderr and "invalid partition" in r.stderr.lower()
    assert "hint: partitions here: debug" in r.stderr and "Traceback" not in r.stderr
    assert not (proj / "runs" / ".sweeps" / "cluster").exists()
    assert [p for p in (proj / "runs").glob("*") if not p.name.startswith(".")] == []


def test_bayes_and_modal_sweeps_are_refused_with_a_hint(tmp_path, expkit):
    proj = _sweep_project(tmp_path)
    (proj / "bayes.yaml").write_text((proj / "sweep.yaml").read_text().replace("method: grid", "method: bayes")
                                     .replace("name: cluster", "name: b\nrun_cap: 4"))
    r = expkit("sweep", "run", "bayes.yaml", "--backend", "slurm", cwd=proj)
    assert r.returncode == 2 and "method: bayes cannot run on --backend slurm" in r.stderr
    assert "hint: use method: random or grid" in r.stderr
    r = expkit("sweep", "run", "sweep.yaml", "--backend", "modal", cwd=proj)
    assert r.returncode == 2 and "not supported for sweeps" in r.stderr and "hint:" in r.stderr
    r = expkit("sweep", "run", "sweep.yaml", "--partition", "gpu", cwd=proj)
    assert r.returncode == 2 and "--partition only apply to --backend slurm" in r.stderr
    assert not (proj / "runs").exists() or not list((proj / "runs").glob(".sweeps/*"))


def test_plan_runs_each_sub_experiment_as_a_slurm_job(slurm_cluster, tmp_path, expkit):
    env = slurm_cluster.env
    local = project(tmp_path / "local")
    on_slurm = project(tmp_path / "slurm")
    assert expkit("plan", "run", "lab-kill", "--sub", "k1,k2", cwd=local).returncode == 0
    r = expkit("plan", "run", "lab-kill", "--sub", "k1,k2", "--backend", "slurm", "--partition", "debug",
               "--time", "5:00", "--json", cwd=on_slurm, env=env)
    assert r.returncode == 0, r
    want = load_yaml(local / "research" / "experiments" / "lab-kill" / "results.yaml")
    got = load_yaml(on_slurm / "research" / "experiments" / "lab-kill" / "results.yaml")
    for key in ("status", "recommendation", "assessment"):
        assert got[key] == want[key], key
    assert got["results"]["experiments"]["k1"]["metrics"] == {"score": 0.95}
    for sub in ("k1", "k2"):
        run_id = got["expkit"]["runs"][sub][0]["run_id"]
        run_dir = on_slurm / "runs" / run_id
        script = (run_dir / "slurm.sbatch").read_text()
        assert "expkit_plan_runtime.py" in script  # the plan runtime, in the chosen interpreter
        shown = expkit("runs", "show", run_id, "--json", cwd=on_slurm, env=env).json()
        assert shown["manifest"]["backend"]["name"] == "slurm" and shown["manifest"]["backend"]["job_id"]
        assert shown["status"]["state"] == "succeeded"
    assert (on_slurm / "research" / "experiments" / "lab-kill" / "FINDINGS.md").exists()


def test_plan_failure_on_slurm_is_contained_with_its_traceback(slurm_cluster, tmp_path, expkit):
    proj = project(tmp_path)
    r = expkit("plan", "run", "lab-isolation", "--sub", "ok,boom", "--backend", "slurm", cwd=proj,
               env=slurm_cluster.env)
    assert r.returncode == 1, r
    doc = load_yaml(proj / "research" / "experiments" / "lab-isolation" / "results.yaml")
    subs = doc["results"]["experiments"]
    assert subs["ok"]["status"] == "completed"
    assert subs["boom"]["error"] == "ZeroDivisionError: division by zero"
    assert "1 / 0" in doc["expkit"]["runs"]["boom"][0]["traceback"]
    assert "Re-run them: expkit plan run lab-isolation --rerun-failed" in r.stdout


def test_plan_with_a_bad_partition_records_nothing(slurm_cluster, tmp_path, expkit):
    proj = project(tmp_path)
    r = expkit("plan", "run", "lab-kill", "--sub", "k1", "--backend", "slurm", "--partition", "nosuch", cwd=proj,
               env=slurm_cluster.env)
    assert r.returncode == 2, r
    assert "invalid partition" in r.stderr.lower() and "hint: partitions here: debug" in r.stderr
    assert not (proj / "research" / "experiments" / "lab-kill" / "results.yaml").exists()
    listed = expkit("runs", "list", "--json", cwd=proj).json()
    assert (listed["runs"] if isinstance(listed, dict) else listed) == []


def test_dry_run_on_slurm_lists_the_trials_without_submitting(tmp_path, expkit):
    proj = _sweep_project(tmp_path)
    r = expkit("sweep", "run", "sweep.yaml", "--backend", "slurm", "--gpus", "1", "--max-parallel", "2",
               "--dry-run", "--json", cwd=proj)
    assert r.returncode == 0, r
    out = r.json()
    assert len(out["trials"]) == 4 and out["slots"] == "slurm job array (at most 2 at once)"
    assert not (proj / "runs" / ".sweeps").exists()


def test_plan_asking_for_gpus_the_cluster_lacks_is_refused_before_anything_runs(slurm_cluster, tmp_path, expkit):
    proj = project(tmp_path)
    r = expkit("plan", "run", "lab-kill", "--sub", "k1", "--backend", "slurm", "--gpus", "1", cwd=proj,
               env=slurm_cluster.env)
    assert r.returncode == 2, r
    assert "error: sbatch rejected the options:" in r.stderr and "hint:" in r.stderr
    assert not (proj / "research" / "experiments" / "lab-kill" / "results.yaml").exists()


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("inherited", ["default", "ignored"])
def test_ctrl_c_stops_following_and_the_trials_go_on(slurm_cluster, tmp_path, expkit, inherited):
    """`ignored`: started like `expkit sweep run ... &` from a script, where SIGINT arrives ignored; the follower
    installs its own handler, so Ctrl-C still stops it instead of leaving it following forever."""
    proj = _sweep_project(tmp_path)
    gate = proj / "release"
    (proj / "trial.py").write_text(f"import os, time\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.05)\n"
                                   + TRIAL)
    env = expkit_env(slurm_cluster.env)
    follower = subprocess.Popen([sys.executable, "-m", "expkit", "sweep", "run", "sweep.yaml", "--backend", "slurm"],
                                cwd=proj, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=_ignore_sigint if inherited == "ignored" else None)
    seen = []
    for line in follower.stderr:  # the follower says when it is following (inside its Ctrl-C handling)
        seen.append(line)
        if line.startswith("following the trials"):
            break
    assert any("submitted 4 trial(s) to slurm as job array" in line for line in seen), seen
    follower.send_signal(signal.SIGINT)
    out, err = follower.communicate(timeout=60)
    err = "".join(seen) + err
    assert follower.returncode == 0, err
    assert "stopped following; the trials go on on slurm" in err and "Traceback" not in err
    assert "submitted to slurm: 4 trial(s)" in out

    gate.write_text("")
    resumed = expkit("sweep", "resume", "cluster", "--json", cwd=proj, env=slurm_cluster.env)
    assert resumed.returncode == 0, resumed
    assert resumed.json()["submitted"] == [] and resumed.json()["counts"]["succeeded"] == 4


def test_demo_section_runs_a_sweep_on_slurm(slurm_cluster, tmp_path):
    from expkit.backends.demo import slurm_sweep_section

    proj = _sweep_project(tmp_path)
    lines = []
    st = slurm_sweep_section(proj, lines.append, f"{sys.executable} trial.py --lr ${{lr}} --bs ${{bs}}")
    assert st["done"] == 4 and all(j["state"] == "succeeded" for j in st["jobs"]), lines
    assert any("as job array" in line and "at most 2 at once" in line for line in lines), lines


def test_plan_on_slurm_runs_the_handlers_in_the_chosen_interpreter(slurm_cluster, tmp_path, expkit):
    """--python on Slurm: the job runs the plan runtime in that interpreter (a separate venv without expkit)."""
    venv = tmp_path / "project-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    proj = project(tmp_path / "p")
    r = expkit("plan", "run", "lab-kill", "--sub", "k1", "--backend", "slurm", "--python", venv, "--json",
               cwd=proj, env=slurm_cluster.env)
    assert r.returncode == 0, r
    run_dir = proj / "runs" / r.json()["ran"][0]["run_id"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["python"]["prefix"] == str(venv) and manifest["python"]["chosen_by"] == "--python"
    assert f"{venv}/bin/python" in (run_dir / "slurm.sbatch").read_text()
    assert str(venv) in (run_dir / "stdout.log").read_text()  # "expkit: running ... in <venv>/bin/python"
