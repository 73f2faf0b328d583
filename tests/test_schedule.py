"""`expkit schedule`: the generated bash script, run for real with bash."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import expkit_env


def run_script(path, *args, env=None):
    return subprocess.run(["bash", str(path), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_script_runs_jobs_skips_finished_ones_and_reports_failures(expkit, tmp_path):
    jobs = tmp_path / "jobs.txt"
    jobs.write_text("# one command per line\necho first >> out.txt\n"
                    "echo gpu=$CUDA_VISIBLE_DEVICES order=$CUDA_DEVICE_ORDER >> out.txt\n"
                    "test -e fixed\n")
    r = expkit("schedule", "--from-file", "jobs.txt", "--gpus", "0,1", "-o", "night.sh", "--json", cwd=tmp_path)
    assert r.returncode == 0, r
    assert r.json()["jobs"] == 3 and r.json()["slots"] == ["0", "1"]
    script = tmp_path / "night.sh"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0

    dry = run_script(script, "--dry-run")
    assert dry.returncode == 0 and dry.stdout.count("would run") == 3 and not (tmp_path / "out.txt").exists()

    first = run_script(script)
    assert first.returncode == 1  # the third job failed
    out = (tmp_path / "out.txt").read_text().splitlines()
    assert len(out) == 2 and "first" in out  # the two jobs ran side by side, in either order
    assert {"gpu=0 order=PCI_BUS_ID", "gpu=1 order=PCI_BUS_ID"} & set(out)
    logs = tmp_path / "logs"
    assert len(list(logs.glob("*.done"))) == 2 and len(list(logs.glob("*.failed"))) == 1
    log_line = (logs / "schedule.log").read_text().splitlines()[0]
    assert log_line.startswith("[20") and "Z]" in log_line  # timestamped

    (tmp_path / "fixed").write_text("")
    second = run_script(script)
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.count("skip ") == 2  # finished jobs are not run again
    assert (tmp_path / "out.txt").read_text().splitlines() == out  # nothing ran twice
    assert not list(logs.glob("*.failed"))


def test_deadline_stops_new_jobs(expkit, tmp_path):
    r = expkit("schedule", "--cmd", "touch ran", "--deadline", "2001-01-01 00:00", "-o", "s.sh", cwd=tmp_path)
    assert r.returncode == 0, r
    out = run_script(tmp_path / "s.sh")
    assert "past the deadline" in out.stdout and not (tmp_path / "ran").exists()
    later = run_script(tmp_path / "s.sh", "--deadline", "2999-01-01 00:00")
    assert later.returncode == 0 and (tmp_path / "ran").exists()


def test_jobs_from_a_sweep_spec(expkit, tmp_path):
    (tmp_path / "s.yaml").write_text("method: grid\nparameters: {lr: {values: [0.1, 0.01]}}\n"
                                     f"command: {sys.executable} -c 'import sys; open(\"lr\" + sys.argv[1], \"w\")' ${{lr}}\n")
    assert expkit("schedule", "--spec", "s.yaml", "--parallel", "2", cwd=tmp_path).returncode == 0
    assert run_script(tmp_path / "schedule.sh").returncode == 0
    assert (tmp_path / "lr0.1").exists() and (tmp_path / "lr0.01").exists()


def test_no_jobs_is_an_error(expkit, tmp_path):
    r = expkit("schedule", cwd=tmp_path)
    assert r.returncode == 2 and "no jobs" in r.stderr and "hint:" in r.stderr


def test_a_script_written_in_a_subfolder_runs_its_jobs_from_the_project_wherever_it_is_started(expkit, tmp_path):
    """`-o sub/dir/night.sh` used to `cd` into sub/dir, so every job's relative paths failed."""
    (tmp_path / "data.txt").write_text("42\n")
    r = expkit("schedule", "--cmd", "test -e ok && cat data.txt > copied.txt", "-o", "sub/dir/night.sh", cwd=tmp_path)
    assert r.returncode == 0, r
    (tmp_path / "ok").write_text("")
    out = subprocess.run(["bash", str(tmp_path / "sub" / "dir" / "night.sh")], cwd="/", capture_output=True,
                         text=True, timeout=120, env={**os.environ, **expkit_env()})
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "copied.txt").read_text() == "42\n"
    assert (tmp_path / "sub" / "dir" / "logs" / "schedule.log").exists()


def test_a_script_keeps_working_when_the_project_moves(expkit, tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "data.txt").write_text("42\n")
    assert expkit("schedule", "--cmd", "test -e ok && cat data.txt > copied.txt", "-o", "sub/night.sh",
                  cwd=proj).returncode == 0
    first = subprocess.run(["bash", "sub/night.sh"], cwd=proj, capture_output=True, text=True, timeout=120,
                           env={**os.environ, **expkit_env()})
    assert first.returncode == 1  # no `ok` yet: the job fails
    moved = tmp_path / "moved"
    proj.rename(moved)
    (moved / "ok").write_text("")
    again = subprocess.run(["bash", str(moved / "sub" / "night.sh")], cwd=tmp_path, capture_output=True, text=True,
                           timeout=120, env={**os.environ, **expkit_env()})
    assert again.returncode == 0, again.stdout + again.stderr
    assert (moved / "copied.txt").read_text() == "42\n"


def test_scheduled_commands_are_tracked_runs_of_the_scripts_group_with_their_env(expkit, tmp_path):
    r = expkit("schedule", "--cmd", "echo value=$FOO", "--cmd", "echo second", "--env", "FOO=bar", "-o", "night.sh",
               "--json", cwd=tmp_path)
    assert r.returncode == 0, r
    assert r.json()["group"] == "schedule-night"
    out = run_script(tmp_path / "night.sh", env=expkit_env())
    assert out.returncode == 0, out.stdout + out.stderr
    runs = expkit("runs", "list", "--group", "schedule-night", "--json", cwd=tmp_path).json()["runs"]
    assert len(runs) == 2 and {run["state"] for run in runs} == {"succeeded"}
    assert any("value=bar" in p.read_text() for p in (tmp_path / "logs").glob("job*.log"))
    manifests = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/manifest.json")]
    assert all(m["env_overrides"].get("FOO") == "bar" for m in manifests)


def test_a_scheduled_sweep_is_seen_by_sweep_report_and_status(expkit, tmp_path):
    (tmp_path / "t.py").write_text("import sys\nprint(f'loss={float(sys.argv[2]):.3f}', flush=True)\n")
    (tmp_path / "s.yaml").write_text("name: nightly\nmethod: grid\nmetric: {name: loss, goal: minimize}\n"
                                     "parameters: {lr: {values: [0.3, 0.1]}}\n"
                                     f"command: {sys.executable} t.py --lr ${{lr}}\n")
    assert expkit("schedule", "--spec", "s.yaml", "--parallel", "2", "-o", "night.sh", cwd=tmp_path).returncode == 0
    out = run_script(tmp_path / "night.sh", env=expkit_env())
    assert out.returncode == 0, out.stdout + out.stderr
    status = expkit("sweep", "status", "nightly", "--json", cwd=tmp_path).json()
    assert status["counts"].get("succeeded") == 2 and all(j["run_id"] for j in status["jobs"])
    report = expkit("sweep", "report", "nightly", "--no-plots", "--json", cwd=tmp_path).json()
    assert report["best"]["params"] == {"lr": 0.1} and report["best"]["final"] == 0.1
    assert len(expkit("runs", "list", "--group", "nightly", "--json", cwd=tmp_path).json()["runs"]) == 2


def test_parallel_jobs_writing_the_same_file_get_a_warning(expkit, tmp_path):
    r = expkit("schedule", "--cmd", "python train.py --lr 0.1 --save model.pt",
               "--cmd", "python train.py --lr 0.2 --save model.pt", "--parallel", "2", "-o", "night.sh", cwd=tmp_path)
    assert r.returncode == 0, r
    assert "2 jobs write the same --save model.pt" in r.stderr and "overwrite each other's file" in r.stderr
    one_at_a_time = expkit("schedule", "--cmd", "python train.py --save model.pt", "--cmd",
                           "python train.py --save model.pt --lr 2", "-o", "one.sh", cwd=tmp_path)
    assert "write the same" not in one_at_a_time.stderr
    (tmp_path / "s.yaml").write_text("method: grid\nparameters: {lr: {values: [0.1, 0.2]}}\n"
                                     "command: python train.py --lr ${lr} --output_dir=out\n")
    dry = expkit("sweep", "run", "s.yaml", "--dry-run", "--gpus", "none", "--max-parallel", "2", "--json",
                 cwd=tmp_path)
    assert any(w.startswith("every trial: --output_dir out (given)") for w in dry.json()["warnings"])
