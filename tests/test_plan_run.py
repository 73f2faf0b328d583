"""`expkit plan run`: every sub-experiment is an isolated process and an expkit run; failures stay contained;
killing the runner loses nothing completed; --rerun-failed runs only what failed or never ran."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from conftest import HELPERS, expkit_env
from fixtures.plans.projects import load_yaml, project


def results(proj, exp_id, stub=False):
    base = proj / "research" / "experiments" / exp_id
    return load_yaml((base / "stub" if stub else base) / "results.yaml")


def test_each_failure_mode_fails_only_its_own_sub_experiment(tmp_path, expkit):
    proj = project(tmp_path)
    r = expkit("plan", "run", "lab-isolation", cwd=proj)
    assert r.returncode == 1, r
    doc = results(proj, "lab-isolation")
    subs = doc["results"]["experiments"]
    assert subs["ok"]["status"] == "completed" and subs["ok"]["metrics"] == {"score": 0.95}
    assert subs["boom"]["error"] == "ZeroDivisionError: division by zero"
    assert "timed out after 1s" in subs["hang"]["error"]
    assert "SIGSEGV" in subs["segv"]["error"]
    assert "missing finding, artifacts" in subs["badret"]["error"]
    assert subs["missing"]["status"] == "skipped"
    assert subs["missing"]["error"].startswith("No handler registered for sub-experiment missing (registered: ")
    assert subs["after_boom"]["status"] == "skipped" and "depends on boom" in subs["after_boom"]["error"]
    runs = doc["expkit"]["runs"]
    assert "1 / 0" in runs["boom"][0]["traceback"]                      # the traceback is kept
    assert "in segv" in runs["segv"][0]["traceback"]                     # faulthandler's stack of the crash
    assert "in hang" in runs["hang"][0]["traceback"]                     # where the timed-out handler was stuck
    # the verdict: the code broke, so no hypothesis assessment
    assert doc["status"] == "failed" and doc["recommendation"] == "investigate"
    assert doc["assessment"]["success_criteria_met"] is None
    # the summary researchers know
    assert "Completed: 1  Failed: 4  Skipped: 2" in r.stdout
    assert "Status: failed" in r.stdout and "Recommendation: investigate" in r.stdout
    assert "  boom: ZeroDivisionError: division by zero" in r.stdout
    assert "Re-run them: expkit plan run lab-isolation --rerun-failed" in r.stdout


def test_every_sub_experiment_is_an_expkit_run(tmp_path, expkit):
    proj = project(tmp_path)
    r = expkit("plan", "run", "lab-seeds", "--json", cwd=proj)
    assert r.returncode == 0, r
    listed = expkit("runs", "list", "--group", "plan:lab-seeds", "--json", cwd=proj).json()
    rows = listed["runs"] if isinstance(listed, dict) else listed
    assert len(rows) == 3 and all(row["state"] == "succeeded" for row in rows)
    doc = results(proj, "lab-seeds")
    for entry in doc["expkit"]["runs"]["noisy"]:
        run_dir = proj / "runs" / entry["run_id"]
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["seed"]["value"] == entry["seed"]
        assert manifest["plan"]["sub_experiment"] == "noisy" and manifest["group"] == "plan:lab-seeds"
        assert manifest["git"]["commit"] == doc["expkit"]["commit"]
        assert (run_dir / "stdout.log").read_text().startswith("expkit: running lab-seeds/noisy")
        assert json.loads((run_dir / "status.json").read_text())["state"] == "succeeded"
    assert [e["seed"] for e in doc["expkit"]["runs"]["noisy"]] == [0, 1, 2]


def test_one_lucky_seed_is_not_a_proceed(tmp_path, expkit):
    """Seeds give 0.75, 0.85, 0.95: the mean (0.85) clears 'acceptable', but the 95% CI does not."""
    proj = project(tmp_path)
    r = expkit("plan", "run", "lab-seeds", "--json", cwd=proj)
    data = r.json()
    score = data["criteria"]["score"]
    assert abs(score["value"] - 0.85) < 1e-9 and score["n"] == 3
    assert score["ci95"][0] < 0.8 < score["ci95"][1]
    assert score["borderline"] is True
    assert data["recommendation"] == "investigate" and "run more seeds" in data["recommendation_notes"]
    stats = results(proj, "lab-seeds")["results"]["experiments"]["noisy"]["metric_stats"]["score"]
    assert stats["n"] == 3 and abs(stats["std"] - 0.1) < 1e-9


def test_each_seeds_finding_is_labelled_with_its_seed(tmp_path, expkit):
    """nanoGPT with seeds: 2 read "dropout 0.0: val loss 2.7319 at step 20 dropout 0.0: val loss 2.7353 at step 20"
    in FINDINGS.md, two seeds' sentences run together; each now says which seed it is."""
    proj = project(tmp_path)
    assert expkit("plan", "run", "lab-seeds", "--json", cwd=proj).returncode == 0
    finding = results(proj, "lab-seeds")["results"]["experiments"]["noisy"]["finding"]
    assert finding == "seed 0: seed 0. seed 1: seed 1. seed 2: seed 2."


def _wait_for(predicate, what, limit=60):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = open(f"/proc/{pid}/stat").read()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_kill_9_of_the_runner_loses_nothing_completed(tmp_path, expkit):
    proj = project(tmp_path)
    markers = tmp_path / "markers"
    markers.mkdir()
    env = expkit_env({"LAB_MARKERS": str(markers)})
    runner = subprocess.Popen([sys.executable, "-m", "expkit", "plan", "run", "lab-kill"], cwd=proj, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = _wait_for(lambda: list(markers.glob("block.*.started")), "the blocking handler to start")
    seen = json.loads(started[0].read_text())
    child = seen["pid"]
    # on record as running before the handler runs, so a kill from then on leaves a lost run, not a queued one
    assert seen["state"] == "running"
    before = results(proj, "lab-kill")
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    _wait_for(lambda: not _alive(child), "the orphaned sub-experiment to die with its runner")

    doc = results(proj, "lab-kill")
    assert doc == before  # nothing half-written
    done = {s: [r["status"] for r in runs] for s, runs in doc["expkit"]["runs"].items()}
    assert done == {"k1": ["succeeded"], "k2": ["succeeded"]}
    kept = {s: doc["expkit"]["runs"][s][0]["run_id"] for s in ("k1", "k2")}

    (markers / "block.release").write_text("go")
    r = expkit("plan", "run", "lab-kill", "--rerun-failed", "--json", cwd=proj, env={"LAB_MARKERS": str(markers)})
    assert r.returncode == 0, r
    assert [row["sub"] for row in r.json()["ran"]] == ["block", "k3"]
    doc = results(proj, "lab-kill")
    assert {s: doc["expkit"]["runs"][s][0]["run_id"] for s in ("k1", "k2")} == kept
    assert doc["status"] == "completed" and doc["recommendation"] == "proceed"
    # the killed attempt is visible as a lost run, not as a running one
    lost = expkit("runs", "list", "--group", "plan:lab-kill", "--json", cwd=proj).json()
    rows = lost["runs"] if isinstance(lost, dict) else lost
    assert sorted(row["state"] for row in rows) == ["lost", "succeeded", "succeeded", "succeeded", "succeeded"]


def test_rerun_failed_reruns_only_what_failed_and_keeps_the_rest(tmp_path, expkit):
    proj = project(tmp_path, "example")
    first = expkit("plan", "run", "c1-linear-sufficiency", "--json", cwd=proj)
    assert first.returncode == 1
    assert first.json()["failed"] == {"e1_3": "RuntimeError: feature cache was cold: built c1_clusters.json; "
                                              "re-run to use it"}
    again = expkit("plan", "run", "c1-linear-sufficiency", "--rerun-failed", "--json", cwd=proj)
    assert again.returncode == 0, again
    data = again.json()
    assert [row["sub"] for row in data["ran"]] == ["e1_3"]
    assert data["status"] == "completed" and data["recommendation"] == "pivot"
    assert data["criteria"]["accuracy"]["label"] == "below acceptable"
    assert data["criteria"]["mse"]["label"] == "target met"
    doc = results(proj, "c1-linear-sufficiency")
    assert doc["expkit"]["runs"]["e1_3"][0]["attempts"] == 2
    for key in ("experiment_id", "status", "executed_by", "started_at", "completed_at", "success_criteria",
                "results", "assessment", "recommendation", "recommendation_notes", "blockers", "issues"):
        assert key in doc
    assert doc["assessment"]["mse_achieved"] < 0.05 and doc["assessment"]["confidence"] in ("high", "medium")
    nothing = expkit("plan", "run", "c1-linear-sufficiency", "--rerun-failed", cwd=proj)
    assert "nothing to run" in nothing.stdout


def test_stub_run_never_proceeds_and_never_touches_real_results(tmp_path, expkit):
    proj = project(tmp_path, "example")
    r = expkit("plan", "run", "c1-linear-sufficiency", "--stub", "--json", cwd=proj)
    assert r.returncode == 0, r
    data = r.json()
    # stub metrics equal the targets, yet the verdict cannot be proceed
    assert data["criteria"]["mse"]["label"] == "target met"
    assert data["status"] == "stub" and data["recommendation"] == "investigate"
    assert not (proj / "research" / "experiments" / "c1-linear-sufficiency" / "results.yaml").exists()
    doc = results(proj, "c1-linear-sufficiency", stub=True)
    assert doc["expkit"]["stub"] is True
    assert all(e["finding"].startswith("STUB") for e in doc["results"]["experiments"].values())
    findings = (proj / "research" / "experiments" / "c1-linear-sufficiency" / "stub" / "FINDINGS.md").read_text()
    assert "**Status: STUB**" in findings and "COMPLETED" not in findings and "PROCEED" not in findings


def test_unmet_dependencies_stop_the_run_unless_forced(tmp_path, expkit):
    proj = project(tmp_path)
    r = expkit("plan", "run", "lab-dep", cwd=proj)
    assert r.returncode == 2
    assert "depends on lab-seeds" in r.stderr and "--force" in r.stderr
    assert not (proj / "research" / "experiments" / "lab-dep").exists()
    forced = expkit("plan", "run", "lab-dep", "--force", cwd=proj)
    assert forced.returncode == 0, forced
    assert "dependencies not met (run forced): lab-seeds" in forced.stderr
    doc = results(proj, "lab-dep")
    assert doc["blockers"] == ["[expkit] dependency lab-seeds has not reached proceed/passed (run forced)"]


def test_sub_selection_and_bad_names(tmp_path, expkit):
    proj = project(tmp_path)
    r = expkit("plan", "run", "lab-isolation", "--sub", "ok", "--json", cwd=proj)
    assert r.returncode == 0 and [row["sub"] for row in r.json()["ran"]] == ["ok"]
    bad = expkit("plan", "run", "lab-isolation", "--sub", "okk", cwd=proj)
    assert bad.returncode == 2 and "did you mean 'ok'?" in bad.stderr


def test_an_existing_results_file_is_read_not_discarded(tmp_path, expkit):
    proj = project(tmp_path)
    path = proj / "research" / "experiments" / "lab-isolation" / "results.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("experiment_id: lab-isolation\nreviewed_by: alice\nissues: [\"GPU 2 is flaky\"]\n"
                    "results:\n  experiments:\n    old_sub: {status: completed, finding: from last month}\n")
    r = expkit("plan", "run", "lab-isolation", "--sub", "ok", cwd=proj)
    assert r.returncode == 0, r
    doc = load_yaml(path)
    assert doc["reviewed_by"] == "alice" and doc["issues"] == ["GPU 2 is flaky"]
    assert doc["results"]["experiments"]["old_sub"]["finding"] == "from last month"
    path.write_text("results: [unclosed\n")
    broken = expkit("plan", "run", "lab-isolation", "--sub", "ok", cwd=proj)
    assert broken.returncode == 2 and "cannot read" in broken.stderr and "move it aside" in broken.stderr
    assert path.read_text() == "results: [unclosed\n"


def test_a_recorded_sub_experiment_can_be_rerun_by_its_worker_command(tmp_path, expkit):
    """The command in each run's manifest (the plan runtime by path in the chosen interpreter, run dir from
    EXPKIT_RUN_DIR) is what a Slurm job runs: it works outside the runner too, and so does `python -m
    expkit.plan.worker` (what a Modal container runs)."""
    proj = project(tmp_path)
    assert expkit("plan", "run", "lab-isolation", "--sub", "ok", cwd=proj).returncode == 0
    run_id = results(proj, "lab-isolation")["expkit"]["runs"]["ok"][0]["run_id"]
    run_dir = proj / "runs" / run_id
    (run_dir / "result.json").unlink()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    argv = manifest["command"]["argv"]
    assert argv[1].endswith("expkit_plan_runtime.py") and manifest["python"]["executable"]
    env = expkit_env({"EXPKIT_RUN_DIR": str(run_dir)})
    for command in (argv, [sys.executable, "-m", "expkit.plan.worker"]):
        done = subprocess.run(command, cwd=proj, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert json.loads((run_dir / "result.json").read_text())["result"]["metrics"] == {"score": 0.95}
        (run_dir / "result.json").unlink()


def test_an_experiment_may_name_its_handler_module(tmp_path, expkit):
    proj = project(tmp_path)
    plan = proj / "research" / "research_plan.yaml"
    plan.write_text(plan.read_text().replace('    name: "Seeds"\n', '    name: "Seeds"\n    handlers: handlers.lab\n'))
    (proj / "handlers" / "lab").rename(proj / "handlers" / "other")
    plan.write_text(plan.read_text().replace("handlers: handlers.lab", "handlers: handlers.other"))
    r = expkit("plan", "run", "lab-seeds", "--json", cwd=proj)
    assert r.returncode == 0, r
    assert r.json()["counts"]["completed"] == 1


def test_a_second_runner_on_the_same_experiment_is_refused(tmp_path, expkit):
    proj = project(tmp_path)
    markers = tmp_path / "markers"
    markers.mkdir()
    env = expkit_env({"LAB_MARKERS": str(markers)})
    first = subprocess.Popen([sys.executable, "-m", "expkit", "plan", "run", "lab-kill"], cwd=proj, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(lambda: list(markers.glob("block.*.started")), "the blocking handler to start")
    second = expkit("plan", "run", "lab-kill", cwd=proj, env={"LAB_MARKERS": str(markers)})
    assert second.returncode == 2 and "another `expkit plan run` is writing" in second.stderr
    (markers / "block.release").write_text("go")
    assert first.wait(timeout=120) == 0
    assert expkit("plan", "run", "lab-kill", "--rerun-failed", cwd=proj).returncode == 0


def test_ctrl_c_stops_the_current_sub_experiment_and_keeps_the_rest(tmp_path, expkit):
    proj = project(tmp_path)
    markers = tmp_path / "markers"
    markers.mkdir()
    env = expkit_env({"LAB_MARKERS": str(markers)})
    runner = subprocess.Popen([sys.executable, "-m", "expkit", "plan", "run", "lab-kill"], cwd=proj, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = _wait_for(lambda: list(markers.glob("block.*.started")), "the blocking handler to start")
    child = json.loads(started[0].read_text())["pid"]
    runner.send_signal(signal.SIGINT)
    _, err = runner.communicate(timeout=60)
    assert runner.returncode == 130 and "error: " in err and "Traceback" not in err
    _wait_for(lambda: not _alive(child), "the interrupted sub-experiment to be killed")
    doc = results(proj, "lab-kill")
    assert sorted(doc["expkit"]["runs"]) == ["k1", "k2"] and doc["status"] == "in_progress"
    stopped = [r for r in (proj / "runs").iterdir() if r.name.startswith("lab-block")]
    assert json.loads((stopped[0] / "status.json").read_text())["state"] == "stopped"
    (markers / "block.release").write_text("go")
    again = expkit("plan", "run", "lab-kill", "--rerun-failed", "--json", cwd=proj, env={"LAB_MARKERS": str(markers)})
    assert [row["sub"] for row in again.json()["ran"]] == ["block", "k3"]
