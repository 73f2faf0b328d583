"""`expkit runs watch` and the supervisor's resource sampling, on real runs.

The GPU part uses tests/fakes/pynvml (no NVIDIA GPU can exist on the test machines); RSS comes from the real /proc.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

FAKES = Path(__file__).parent / "fakes"
HELPERS = Path(__file__).parents[1] / "helpers"

# The job waits until the supervisor has sampled it twice after allocating, so no timing is assumed.
WAIT_FOR_SAMPLES = """
    import os, pathlib, time
    data = b"x" * (64 * 1024 * 1024)  # 64 MiB written, so resident: RSS must show it
    path = pathlib.Path(os.environ["EXPKIT_RUN_DIR"]) / "resources.jsonl"
    count = lambda: path.read_text().count("\\n") if path.exists() else 0
    seen, deadline = count(), time.time() + 30
    while time.time() < deadline and count() < seen + 2:  # two samples taken after the allocation
        time.sleep(0.05)
    print("step 5/10 loss=0.25", flush=True)
"""


def _launch(expkit, repo, script, *extra, env=None):
    (repo / "job.py").write_text(textwrap.dedent(script))
    r = expkit("launch", "--runs-dir", repo / "runs", *extra, "--json", "--", sys.executable, "job.py", cwd=repo,
               env=env)
    assert r.returncode == 0, r
    return r.json()["run_id"]


def test_supervisor_samples_rss_and_gpus(expkit, git_repo, tmp_path):
    state = tmp_path / "nvml.json"
    state.write_text(json.dumps({"driver": "550.54.15", "devices": [
        {"name": "NVIDIA A100-SXM4-80GB", "uuid": "GPU-aaaa", "memory_total_mib": 81920, "memory_used_mib": 40960,
         "utilization_gpu": 97},
        {"name": "NVIDIA A100-SXM4-80GB", "uuid": "GPU-bbbb", "memory_total_mib": 81920, "memory_used_mib": 1,
         "utilization_gpu": 3}]}))
    env = {"PYTHONPATH": f"{HELPERS}:{FAKES}", "FAKE_NVML_STATE": str(state), "EXPKIT_NVML_ALWAYS": "1"}
    run_id = _launch(expkit, git_repo, WAIT_FOR_SAMPLES, "--gpus", "0", "--env", "EXPKIT_SAMPLE_INTERVAL=0.1",
                     env=env)
    w = expkit("runs", "wait", run_id, "--runs-dir", git_repo / "runs", "--timeout", "60", cwd=git_repo)
    assert w.returncode == 0, w
    run_dir = git_repo / "runs" / run_id
    samples = [json.loads(line) for line in (run_dir / "resources.jsonl").read_text().splitlines()]
    assert len(samples) >= 2
    assert max(s["rss_mib"] for s in samples) >= 64
    gpus = samples[-1]["gpus"]
    assert [g["index"] for g in gpus] == [0]  # only the run's GPU (--gpus 0)
    assert gpus[0]["util_pct"] == 97 and gpus[0]["mem_used_mib"] == 40960
    status = json.loads((run_dir / "status.json").read_text())
    assert status["resources"]["peak_rss_mib"] >= 64
    show = expkit("runs", "show", run_id, "--runs-dir", git_repo / "runs", cwd=git_repo)
    assert "resources" in show.stdout and "gpu0 97% 40.0/80.0 GiB" in show.stdout, show
    once = expkit("runs", "watch", run_id, "--runs-dir", git_repo / "runs", "--once", cwd=git_repo)
    assert "gpu0 97%" in once.stdout and "step 5/10" in once.stdout


def test_sampling_can_be_turned_off(expkit, git_repo):
    run_id = _launch(expkit, git_repo, "print('hi')\n", "--env", "EXPKIT_SAMPLE=0")
    expkit("runs", "wait", run_id, "--runs-dir", git_repo / "runs", "--timeout", "60", cwd=git_repo)
    run_dir = git_repo / "runs" / run_id
    assert not (run_dir / "resources.jsonl").exists()
    assert "resources" not in json.loads((run_dir / "status.json").read_text())


def test_watch_once_and_timeout_on_a_live_run(expkit, git_repo):
    script = """
        import os, pathlib, time
        print("Epoch 2:  40%|####      | 40/100 [00:10<00:15,  4.00it/s, loss=0.812]", flush=True)
        flag = pathlib.Path(os.environ["EXPKIT_RUN_DIR"]) / "go"
        while not flag.exists():
            time.sleep(0.05)
    """
    run_id = _launch(expkit, git_repo, script)
    run_dir = git_repo / "runs" / run_id
    try:
        for _ in range(200):  # until the first line is in the log
            if b"Epoch" in (run_dir / "stdout.log").read_bytes():
                break
            import time
            time.sleep(0.05)
        once = expkit("runs", "watch", run_id, "--runs-dir", git_repo / "runs", "--once", "--json", cwd=git_repo)
        snap = json.loads(once.stdout)
        assert once.returncode == 0 and snap["state"] == "running"
        p = snap["progress"]
        assert (p["step"], p["total"], p["epoch"], p["loss"], p["rate"], p["eta_s"]) == (40, 100, 2, 0.812, 4.0, 15)
        t = expkit("runs", "watch", run_id, "--runs-dir", git_repo / "runs", "--timeout", "0.3", "--interval", "0.1",
                   cwd=git_repo)
        assert t.returncode == 124 and "still running" in t.stderr
        assert "step 40/100 (40%) epoch 2 | loss 0.812 | 4 it/s ETA 15s" in t.stdout
    finally:
        (run_dir / "go").write_text("")
    expkit("runs", "wait", run_id, "--runs-dir", git_repo / "runs", "--timeout", "60", cwd=git_repo)


def test_silent_run_with_idle_gpu_is_flagged_while_running(expkit, git_repo, tmp_path):
    """A live run whose log is old (mtime set back) and whose fake GPU sits at 0%: two warnings, no error."""
    import os
    import time

    state = tmp_path / "nvml.json"
    state.write_text(json.dumps({"devices": [{"name": "NVIDIA L4", "uuid": "GPU-cccc", "memory_total_mib": 23034,
                                              "memory_used_mib": 500, "utilization_gpu": 0}]}))
    env = {"PYTHONPATH": f"{HELPERS}:{FAKES}", "FAKE_NVML_STATE": str(state), "EXPKIT_NVML_ALWAYS": "1"}
    script = """
        import os, pathlib, time
        run_dir = pathlib.Path(os.environ["EXPKIT_RUN_DIR"])
        print("step=1 loss=1.0", flush=True)
        while not (run_dir / "go").exists():
            time.sleep(0.05)
    """
    run_id = _launch(expkit, git_repo, script, "--gpus", "0", "--env", "EXPKIT_SAMPLE_INTERVAL=0.05", env=env)
    run_dir = git_repo / "runs" / run_id
    try:
        deadline = time.time() + 30
        while time.time() < deadline and (not (run_dir / "resources.jsonl").exists()
                                          or (run_dir / "resources.jsonl").read_text().count("\n") < 6
                                          or b"step=1" not in (run_dir / "stdout.log").read_bytes()):
            time.sleep(0.05)
        old = time.time() - 3600
        os.utime(run_dir / "stdout.log", (old, old))
        r = expkit("runs", "diagnose", run_id, "--runs-dir", git_repo / "runs", "--json", cwd=git_repo)
        d = r.json()
        assert r.returncode == 0 and d["state"] == "running", d
        cats = {f["category"]: f for f in d["findings"]}
        assert set(cats) == {"no_output", "gpu_idle"}
        assert cats["no_output"]["numbers"]["silent_s"] >= 3600
        assert all(f["severity"] == "warning" for f in d["findings"])
        assert d["healthy"] is False and "no output" in d["verdict"]
    finally:
        (run_dir / "go").write_text("")
    expkit("runs", "wait", run_id, "--runs-dir", git_repo / "runs", "--timeout", "60", cwd=git_repo)


def test_watch_on_a_terminal_redraws_one_line(git_repo, tmp_path):
    """Under a real pseudo-terminal the status line is redrawn with \\r instead of printing new lines."""
    import os
    import pty
    import subprocess

    from conftest import expkit_env, run_expkit_cmd

    (git_repo / "job.py").write_text("print('step 7/9 loss=0.5', flush=True)\n")
    r = run_expkit_cmd("launch", "--runs-dir", git_repo / "runs", "--json", "--", sys.executable, "job.py",
                       cwd=git_repo)
    run_id = r.json()["run_id"]
    run_expkit_cmd("runs", "wait", run_id, "--runs-dir", git_repo / "runs", cwd=git_repo)
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "expkit", "runs", "watch", run_id, "--runs-dir",
                             str(git_repo / "runs")], cwd=git_repo, env=expkit_env(), stdout=slave, stderr=slave)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    text = out.decode()
    assert text.startswith("\r") and "step 7/9" in text
    assert f"{run_id}: succeeded" in text
