"""Diagnose and watch real runs started with `expkit launch`: real processes, real exits and signals."""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap

import pytest


def _launch(expkit, repo, script: str, *extra):
    (repo / "job.py").write_text(textwrap.dedent(script))
    r = expkit("launch", "--runs-dir", repo / "runs", *extra, "--json", "--", sys.executable, "job.py", cwd=repo)
    assert r.returncode == 0, r
    run_id = r.json()["run_id"]
    expkit("runs", "wait", run_id, "--runs-dir", repo / "runs", "--timeout", "60", cwd=repo)
    return run_id


def _diag(expkit, repo, run_id):
    r = expkit("runs", "diagnose", run_id, "--runs-dir", repo / "runs", "--json", cwd=repo)
    return r, r.json()


def test_script_that_raises(expkit, git_repo):
    run_id = _launch(expkit, git_repo, """
        import json
        print("step=1 loss=0.5", flush=True)
        json.dumps({"acc": {0.5}})
    """)
    r, d = _diag(expkit, git_repo, run_id)
    assert r.returncode == 1
    assert d["state"] == "failed" and d["exit_code"] == 1
    cause = d["cause"]
    assert cause["category"] == "python_traceback"
    assert cause["numbers"]["exception_type"] == "TypeError"
    assert cause["numbers"]["user_frame"]["file"].endswith("job.py")
    assert cause["numbers"]["user_frame"]["line"] == 4
    assert cause["numbers"]["message"] == "Object of type set is not JSON serializable"
    assert any("job.py:4" in f for f in cause["fixes"])
    assert any(ev["line"] and "TypeError" in ev["text"] for ev in cause["evidence"])


def test_script_killed_by_sigkill(expkit, git_repo):
    run_id = _launch(expkit, git_repo, """
        import os, signal
        print("allocating ...", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    r, d = _diag(expkit, git_repo, run_id)
    assert r.returncode == 1
    assert d["signal"] == "SIGKILL"
    cause = d["cause"]
    assert cause["category"] == "host_oom"
    assert "SIGKILL" in cause["summary"] and cause["confidence"] < 0.9
    assert cause["evidence"][0]["source"] == "status.json"


def test_nan_losses_found_at_first_step(expkit, git_repo):
    run_id = _launch(expkit, git_repo, """
        import math
        for step in range(1, 9):
            loss = 1.0 / step if step < 5 else float("nan")
            print(f"step={step} loss={loss:.4f}", flush=True)
    """)
    r, d = _diag(expkit, git_repo, run_id)
    assert d["state"] == "succeeded"
    assert r.returncode == 1  # a NaN loss is a failure even when the process exits 0
    cause = d["cause"]
    assert cause["category"] == "nan_loss" and cause["numbers"]["step"] == 5
    assert cause["numbers"]["last_finite_loss"] == 0.25
    assert cause["evidence"][0]["line"] == 5


def test_stopped_run_is_not_a_failure(expkit, git_repo):
    (git_repo / "job.py").write_text("import time\nprint('ready', flush=True)\ntime.sleep(60)\n")
    r = expkit("launch", "--runs-dir", git_repo / "runs", "--json", "--", sys.executable, "job.py", cwd=git_repo)
    run_id = r.json()["run_id"]
    stop = expkit("runs", "stop", run_id, "--runs-dir", git_repo / "runs", "--grace", "5", cwd=git_repo)
    assert stop.returncode == 0, stop
    r, d = _diag(expkit, git_repo, run_id)
    assert r.returncode == 0, d
    assert d["state"] == "stopped"
    assert d["findings"][0]["category"] == "sigterm" and d["findings"][0]["severity"] == "info"


def test_watch_prints_plain_lines_and_the_diagnosis_when_not_a_terminal(expkit, git_repo):
    run_id = _launch(expkit, git_repo, """
        import sys
        for step in range(1, 4):
            print(f"step {step}/10 loss={1.0 / step:.3f}", flush=True)
        sys.exit("config error: lr must be positive")
    """)
    r = expkit("runs", "watch", run_id, "--runs-dir", git_repo / "runs", "--interval", "0.2", cwd=git_repo)
    assert r.returncode == 1, r
    first = r.stdout.splitlines()[0]
    assert "\r" not in r.stdout and "\x1b" not in r.stdout
    assert "failed" in first and "step 3/10" in first and "loss 0.333" in first
    assert f"{run_id}: failed" in r.stdout


def test_watch_json_ends_with_the_diagnosis(expkit, git_repo):
    run_id = _launch(expkit, git_repo, "print('step=1 loss=0.5')\n")
    r = expkit("runs", "watch", run_id, "--runs-dir", git_repo / "runs", "--json", cwd=git_repo)
    assert r.returncode == 0, r
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert events[0]["event"] == "status" and events[0]["progress"]["loss"] == 0.5
    assert events[-1]["event"] == "ended" and events[-1]["diagnosis"]["healthy"] is True


@pytest.mark.skipif(importlib.util.find_spec("cv2") is not None, reason="cv2 is installed here")
def test_demo_shows_the_diagnosis(expkit, git_repo):
    from expkit.monitor.demo import show_diagnosis
    from expkit.runs.store import RunStore

    run_id = _launch(expkit, git_repo, "import cv2\n")
    lines = []
    result = show_diagnosis(RunStore(git_repo / "runs").get(run_id), lines.append)
    assert result["cause"]["category"] == "import_error"
    assert lines[0].startswith(f"{run_id}: failed: no module named 'cv2' (provided by the pip package opencv-python)")
    assert any("-m pip install opencv-python" in line for line in lines)


def test_silent_nonzero_exit_is_unknown_with_the_last_lines(expkit, git_repo):
    run_id = _launch(expkit, git_repo, """
        import sys
        for step in range(60):
            print(f"step={step} loss={1 + step / 10:.2f}")
        print("giving up")
        sys.exit(3)
    """)
    r, d = _diag(expkit, git_repo, run_id)
    assert r.returncode == 1 and d["exit_code"] == 3
    assert d["cause"]["category"] == "unknown" and "exited with code 3" in d["cause"]["summary"]
    assert d["cause"]["evidence"][-1]["text"] == "giving up"
    assert [f["category"] for f in d["findings"]] == ["unknown", "loss_not_improving"]
