"""`expkit schedule`: the generated bash script, run for real with bash."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


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
    assert out[0] == "first" and out[1] in ("gpu=0 order=PCI_BUS_ID", "gpu=1 order=PCI_BUS_ID")
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
