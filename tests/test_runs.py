"""`expkit runs ...`: list, show, logs, stop, wait, reproduce, and states that cannot be fooled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import git

TREE_SCRIPT = (
    "import os, subprocess, sys, time, pathlib\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
    "escaped = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], start_new_session=True)\n"
    "pathlib.Path(sys.argv[1]).write_text(f'{os.getpid()} {child.pid} {escaped.pid}')\n"
    "print('tree up', flush=True)\n"
    "time.sleep(120)\n"
)


def launch(expkit, cwd, *argv, extra=()):
    res = expkit("launch", "--json", *extra, "--", *map(str, argv), cwd=cwd)
    assert res.returncode == 0, res
    return res.json()


def wait_for(predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def test_list_show_logs(expkit, git_repo):
    first = launch(expkit, git_repo, sys.executable, "train.py", "2")
    expkit("runs", "wait", first["run_id"], cwd=git_repo)
    second = launch(expkit, git_repo, sys.executable, "-c", "import sys; sys.exit(4)", extra=("--name", "crash"))
    expkit("runs", "wait", second["run_id"], cwd=git_repo)

    rows = expkit("runs", "list", "--json", cwd=git_repo).json()["runs"]
    assert [r["run_id"] for r in rows] == [second["run_id"], first["run_id"]]  # newest first
    assert rows[0]["state"] == "failed" and rows[0]["exit_code"] == 4
    assert rows[1]["state"] == "succeeded" and rows[1]["exit_code"] == 0 and rows[1]["duration_s"] >= 0
    text = expkit("runs", "list", cwd=git_repo).stdout
    assert first["run_id"] in text and "succeeded" in text and "train.py" in text

    shown = expkit("runs", "show", "latest", "--json", cwd=git_repo).json()
    assert shown["run_id"] == second["run_id"] and shown["manifest"]["name"] == "crash"
    assert shown["status"]["exit_code"] == 4
    human = expkit("runs", "show", first["run_id"], cwd=git_repo).stdout
    assert "succeeded" in human and "seed" in human and "git" in human

    logs = expkit("runs", "logs", first["run_id"], "-n", "1", cwd=git_repo)
    assert logs.stdout.strip() == "step=1 loss=0.5000"
    assert "step=0" in expkit("runs", "logs", first["run_id"], cwd=git_repo).stdout


def test_logs_follow_streams_until_the_run_ends(expkit, git_repo):
    out = launch(expkit, git_repo, sys.executable, "train.py", "20")
    res = expkit("runs", "logs", out["run_id"], "--follow", "-n", "1000", cwd=git_repo, timeout=60)
    lines = [l for l in res.stdout.splitlines() if l.startswith("step=")]
    assert [l.split()[0] for l in lines] == [f"step={i}" for i in range(20)]


def test_id_resolution(expkit, git_repo):
    a = launch(expkit, git_repo, sys.executable, "train.py", "1", extra=("--name", "alpha"))
    b = launch(expkit, git_repo, sys.executable, "train.py", "1", extra=("--name", "alps"))
    assert expkit("runs", "show", "alph", "--json", cwd=git_repo).json()["run_id"] == a["run_id"]
    amb = expkit("runs", "show", "al", cwd=git_repo)
    assert amb.returncode == 2 and "ambiguous" in amb.stderr and a["run_id"] in amb.stderr and b["run_id"] in amb.stderr
    unknown = expkit("runs", "show", "alpah_2026", cwd=git_repo)
    assert unknown.returncode == 2 and "error: no run 'alpah_2026'" in unknown.stderr
    assert "hint: closest ids:" in unknown.stderr and a["run_id"] in unknown.stderr
    empty = expkit("runs", "show", "latest", "--runs-dir", git_repo / "nothing", cwd=git_repo)
    assert empty.returncode == 2 and "no runs in" in empty.stderr


def test_stop_ends_the_whole_process_tree(expkit, git_repo, tmp_path):
    pids_file = tmp_path / "pids"
    (git_repo / "tree.py").write_text(TREE_SCRIPT)
    out = launch(expkit, git_repo, sys.executable, "tree.py", pids_file)
    assert wait_for(lambda: pids_file.exists() and pids_file.read_text())
    pids = [int(p) for p in pids_file.read_text().split()]
    assert all(alive(p) for p in pids)
    res = expkit("runs", "stop", out["run_id"], "--grace", "5", "--json", cwd=git_repo)
    assert res.returncode == 0, res
    assert res.json()["state"] == "stopped" and res.json()["signals"] == ["SIGTERM"]
    assert wait_for(lambda: not any(alive(p) for p in pids), timeout=5), [p for p in pids if alive(p)]
    st = expkit("runs", "show", out["run_id"], "--json", cwd=git_repo).json()["status"]
    assert st["state"] == "stopped" and st["signal"] == signal.SIGTERM
    again = expkit("runs", "stop", out["run_id"], "--json", cwd=git_repo).json()
    assert again["already_ended"] is True


def test_stop_escalates_to_sigkill_after_grace(expkit, git_repo, tmp_path):
    ready = tmp_path / "ready"
    (git_repo / "stubborn.py").write_text(
        "import signal, time, pathlib, sys\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "pathlib.Path(sys.argv[1]).write_text('x')\ntime.sleep(120)\n")
    out = launch(expkit, git_repo, sys.executable, "stubborn.py", ready)
    assert wait_for(ready.exists)
    res = expkit("runs", "stop", out["run_id"], "--grace", "0.5", "--json", cwd=git_repo).json()
    assert res["signals"] == ["SIGTERM", "SIGKILL"] and res["state"] == "stopped"
    res = expkit("runs", "wait", out["run_id"], cwd=git_repo)
    assert res.returncode == 128 + signal.SIGKILL


def test_lost_when_run_and_supervisor_die_without_recording(expkit, git_repo):
    out = launch(expkit, git_repo, sys.executable, "-c", "import time; time.sleep(120)")
    run_dir = Path(out["run_dir"])
    st = json.loads((run_dir / "status.json").read_text())
    os.kill(st["supervisor_pid"], signal.SIGKILL)
    time.sleep(0.2)
    shown = expkit("runs", "show", out["run_id"], "--json", cwd=git_repo).json()["status"]
    assert shown["state"] == "running" and "supervisor is gone" in shown["note"]
    os.kill(st["pid"], signal.SIGKILL)
    assert wait_for(lambda: not alive(st["pid"]))
    rows = expkit("runs", "list", "--json", cwd=git_repo).json()["runs"]
    assert rows[0]["state"] == "lost" and "no exit was recorded" in rows[0]["reason"]
    res = expkit("runs", "wait", out["run_id"], cwd=git_repo)
    assert res.returncode == 1


def test_stop_is_recorded_even_when_the_supervisor_is_gone(expkit, git_repo):
    out = launch(expkit, git_repo, sys.executable, "-c", "import time; time.sleep(120)")
    st = json.loads((Path(out["run_dir"]) / "status.json").read_text())
    os.kill(st["supervisor_pid"], signal.SIGKILL)
    res = expkit("runs", "stop", out["run_id"], "--grace", "2", "--json", cwd=git_repo).json()
    assert res["state"] == "stopped" and "exit code is unknown" in res["reason"]
    assert wait_for(lambda: not alive(st["pid"]))


def test_a_reused_pid_does_not_fool_status(expkit, git_repo):
    """status.json points at a live process (this test) with another start time: that is not our run."""
    out = launch(expkit, git_repo, sys.executable, "train.py", "1")
    expkit("runs", "wait", out["run_id"], cwd=git_repo)
    path = Path(out["run_dir"]) / "status.json"
    st = json.loads(path.read_text())
    from expkit.runs import process

    me = process.stat(os.getpid())
    st.update(state="running", ended_at=None, exit_code=None, pid=os.getpid(), pid_start_ticks=me.start_ticks + 1,
              supervisor_pid=os.getppid(), supervisor_start_ticks=1)
    path.write_text(json.dumps(st))
    assert expkit("runs", "show", out["run_id"], "--json", cwd=git_repo).json()["status"]["state"] == "lost"
    st.update(pid_start_ticks=me.start_ticks)  # the very same process: alive
    path.write_text(json.dumps(st))
    assert expkit("runs", "show", out["run_id"], "--json", cwd=git_repo).json()["status"]["state"] == "running"
    st.update(boot_id="00000000-0000-0000-0000-000000000000")  # recorded before a reboot
    path.write_text(json.dumps(st))
    assert expkit("runs", "show", out["run_id"], "--json", cwd=git_repo).json()["status"]["state"] == "lost"


def test_wait_timeout(expkit, git_repo):
    out = launch(expkit, git_repo, sys.executable, "-c", "import time; time.sleep(30)")
    res = expkit("runs", "wait", out["run_id"], "--timeout", "0.3", cwd=git_repo)
    assert res.returncode == 124 and "still running" in res.stderr
    expkit("runs", "stop", out["run_id"], "--grace", "1", cwd=git_repo)


def test_reproduce_uses_recorded_commit_patch_seed_and_config(expkit, git_repo):
    (git_repo / "cfg.json").write_text('{"lr": 0.1}')
    git(git_repo, "add", "cfg.json")
    git(git_repo, "commit", "-qm", "cfg")
    (git_repo / "train.py").write_text("import os, json\nprint('patched', os.environ['EXPKIT_SEED'], "
                                       "json.load(open('cfg.json'))['lr'], os.environ.get('MYVAR'))\n")
    orig = launch(expkit, git_repo, sys.executable, "train.py",
                  extra=("--seed", "99", "--config", "cfg.json", "--env", "MYVAR=abc"))
    expkit("runs", "wait", orig["run_id"], cwd=git_repo)
    # move on: new commit, different code and config
    (git_repo / "train.py").write_text("print('new code')\n")
    (git_repo / "cfg.json").write_text('{"lr": 0.9}')
    git(git_repo, "commit", "-qam", "later")

    dry = expkit("runs", "reproduce", orig["run_id"], "--dry-run", "--json", cwd=git_repo)
    assert dry.returncode == 0, dry
    assert dry.json()["seed"] == 99 and dry.json()["patch"] and not Path(dry.json()["worktree"]).exists()

    res = expkit("runs", "reproduce", orig["run_id"], "--json", cwd=git_repo)
    assert res.returncode == 0, res
    new = res.json()
    expkit("runs", "wait", new["run_id"], cwd=git_repo)
    assert Path(new["log"]).read_text().strip() == "patched 99 0.1 abc"
    m = json.loads((Path(new["run_dir"]) / "manifest.json").read_text())
    assert m["reproduces"]["run_id"] == orig["run_id"] and m["seed"]["value"] == 99


def test_reproduce_refuses_when_commit_is_gone(expkit, git_repo):
    out = launch(expkit, git_repo, sys.executable, "train.py", "1")
    path = Path(out["run_dir"]) / "manifest.json"
    m = json.loads(path.read_text())
    m["git"]["commit"] = "0123456789abcdef0123456789abcdef01234567"
    path.write_text(json.dumps(m))
    res = expkit("runs", "reproduce", out["run_id"], cwd=git_repo)
    assert res.returncode == 2 and "commit 0123456789ab" in res.stderr and "is not in" in res.stderr
    assert "hint:" in res.stderr and not (git_repo / "runs" / ".worktrees").exists()


def test_reproduce_refuses_without_git(expkit, tmp_path):
    out = launch(expkit, tmp_path, sys.executable, "-c", "print(1)")
    res = expkit("runs", "reproduce", out["run_id"], cwd=tmp_path)
    assert res.returncode == 2 and "not launched inside a git repository" in res.stderr


@pytest.mark.parametrize("args", [["runs", "list", "--json"], ["runs", "show", "latest", "--json"],
                                  ["runs", "stop", "latest", "--json"], ["runs", "wait", "latest", "--json"]])
def test_json_is_one_object(expkit, git_repo, args):
    out = launch(expkit, git_repo, sys.executable, "train.py", "1")
    expkit("runs", "wait", out["run_id"], cwd=git_repo)
    res = expkit(*args, cwd=git_repo)
    assert isinstance(json.loads(res.stdout), dict)
