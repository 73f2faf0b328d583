"""The Slurm backend against a real Slurm cluster on localhost (tests/slurm_cluster.py).

Skipped with the reason when slurm-wlm / munge are not installed (.ci/install-slurm.sh installs them).
Nothing waits on a clock: tests block on `expkit runs wait` or on a file the job itself writes.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

from slurm_cluster import slurm_cluster, slurm_cluster_2nodes  # noqa: F401  (fixtures)

from expkit import backends
from expkit.runs.control import RemoteJob
from expkit.runs.launch import LaunchRequest, capture_context, prepare, submit_requests
from expkit.runs.store import RunStore


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(cluster, **extra):
    return {**cluster.env, **extra}


def _wait_for_file(path: Path, limit: float = 60) -> None:
    """Block until the job writes `path` (a safety limit only, not a timing assumption)."""
    deadline = time.monotonic() + limit
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def test_launch_runs_as_a_job_and_is_followed_like_a_local_run(slurm_cluster, git_repo, expkit):
    r = expkit("launch", "--backend", "slurm", "--partition", "debug", "--time", "5:00", "--cpus", "1", "--mem",
               "100M", "--seed", "7", "--json", "--", "python3", "train.py", "2", cwd=git_repo,
               env=_env(slurm_cluster))
    assert r.returncode == 0, r
    out = r.json()
    assert out["backend"] == "slurm" and out["job_id"].isdigit() and out["state"] == "queued"
    run_dir = Path(out["run_dir"])

    script = (run_dir / "slurm.sbatch").read_text()
    for line in (f"#SBATCH --job-name={out['run_id']}", f"#SBATCH --output={run_dir}/stdout.log",
                 "#SBATCH --partition=debug", "#SBATCH --time=5:00", "#SBATCH --cpus-per-task=1",
                 "#SBATCH --mem=100M", "#SBATCH --signal=B:USR1@90", "#SBATCH --requeue", "export EXPKIT_SEED=7"):
        assert line in script

    w = expkit("runs", "wait", out["run_id"], "--json", cwd=git_repo, env=_env(slurm_cluster))
    assert w.returncode == 0, w
    assert w.json()["state"] == "succeeded"

    logs = expkit("runs", "logs", out["run_id"], cwd=git_repo, env=_env(slurm_cluster))
    assert "seed 7" in logs.stdout and "step=1 loss=0.5000" in logs.stdout

    shown = expkit("runs", "show", out["run_id"], "--json", cwd=git_repo, env=_env(slurm_cluster)).json()
    assert shown["manifest"]["backend"]["job_id"] == out["job_id"]
    assert shown["manifest"]["backend"]["partition"] == "debug"
    assert shown["manifest"]["backend"]["nodes"] == "n1"
    assert shown["status"]["exit_code"] == 0 and shown["status"]["started_at"]

    listed = expkit("runs", "list", "--json", cwd=git_repo, env=_env(slurm_cluster)).json()["runs"]
    assert [(x["run_id"], x["state"]) for x in listed] == [(out["run_id"], "succeeded")]


def test_reproduce_resubmits_to_slurm_with_the_same_resources(slurm_cluster, git_repo, expkit):
    env = _env(slurm_cluster)
    first = expkit("launch", "--backend", "slurm", "--time", "10", "--mem", "50M", "--seed", "5", "--json", "--",
                   "python3", "train.py", "1", cwd=git_repo, env=env).json()
    assert expkit("runs", "wait", first["run_id"], cwd=git_repo, env=env).returncode == 0
    again = expkit("runs", "reproduce", first["run_id"], "--json", cwd=git_repo, env=env)
    assert again.returncode == 0, again
    out = again.json()
    assert out["backend"] == "slurm" and out["job_id"] != first["job_id"]
    assert expkit("runs", "wait", out["run_id"], cwd=git_repo, env=env).returncode == 0
    script = (Path(out["run_dir"]) / "slurm.sbatch").read_text()
    assert "#SBATCH --time=10" in script and "#SBATCH --mem=50M" in script and "export EXPKIT_SEED=5" in script
    assert "seed 5" in expkit("runs", "logs", out["run_id"], cwd=git_repo, env=env).stdout


def test_secrets_reach_the_job_but_not_the_run_dir(slurm_cluster, git_repo, expkit):
    env = _env(slurm_cluster, HF_TOKEN="hf_only_in_the_environment")
    out = expkit("launch", "--backend", "slurm", "--json", "--", "python3", "-c",
                 "import os; print('token length', len(os.environ['HF_TOKEN']))", cwd=git_repo, env=env).json()
    assert expkit("runs", "wait", out["run_id"], cwd=git_repo, env=env).returncode == 0
    run_dir = Path(out["run_dir"])
    assert "token length 26" in (run_dir / "stdout.log").read_text()
    for f in run_dir.iterdir():
        assert "hf_only_in_the_environment" not in f.read_text(errors="replace"), f.name


def test_failing_job_reports_its_exit_code(slurm_cluster, git_repo, expkit):
    r = expkit("launch", "--backend", "slurm", "--json", "--", "python3", "-c", "import sys; print('boom'); sys.exit(3)",
               cwd=git_repo, env=_env(slurm_cluster))
    assert r.returncode == 0, r
    w = expkit("runs", "wait", "latest", "--json", cwd=git_repo, env=_env(slurm_cluster))
    assert w.returncode == 3
    assert w.json()["state"] == "failed" and w.json()["exit_code"] == 3
    assert "boom" in expkit("runs", "logs", "latest", cwd=git_repo, env=_env(slurm_cluster)).stdout


def test_unknown_partition_is_rejected_with_slurms_message_and_a_hint(slurm_cluster, git_repo, expkit):
    r = expkit("launch", "--backend", "slurm", "--partition", "gpu-nope", "--", "python3", "train.py",
               cwd=git_repo, env=_env(slurm_cluster))
    assert r.returncode == 2, r
    assert "error: sbatch rejected" in r.stderr and "invalid partition" in r.stderr.lower()
    assert "hint: partitions here: debug" in r.stderr
    assert "Traceback" not in r.stderr
    runs = expkit("runs", "list", "--json", cwd=git_repo, env=_env(slurm_cluster)).json()["runs"]
    assert len(runs) == 1 and runs[0]["state"] == "failed"  # recorded, never as running
    assert "sbatch rejected the job" in runs[0]["reason"]


def test_bad_options_are_refused_before_any_run_exists(git_repo, expkit):
    """Option checks need no cluster: nothing may be created when they fail."""
    r = expkit("launch", "--backend", "slurm", "--time", "four hours", "--", "python3", "train.py", cwd=git_repo)
    assert r.returncode == 2 and "--time 'four hours' is not a Slurm time limit" in r.stderr and "hint:" in r.stderr
    r = expkit("launch", "--partition", "debug", "--", "python3", "train.py", cwd=git_repo)
    assert r.returncode == 2 and "only apply to --backend slurm or modal" in r.stderr
    r = expkit("launch", "--backend", "slurn", "--", "python3", "train.py", cwd=git_repo)
    assert r.returncode == 2 and "did you mean slurm?" in r.stderr
    assert not (git_repo / "runs").exists() or not any((git_repo / "runs").iterdir())


def test_stop_cancels_the_job(slurm_cluster, git_repo, expkit):
    (git_repo / "long.py").write_text(
        "import os, pathlib, time\n"
        "pathlib.Path(os.environ['EXPKIT_RUN_DIR'], 'started').touch()\n"
        "time.sleep(600)\n")
    out = expkit("launch", "--backend", "slurm", "--json", "--", "python3", "long.py", cwd=git_repo,
                 env=_env(slurm_cluster)).json()
    _wait_for_file(Path(out["run_dir"]) / "started")
    shown = expkit("runs", "show", out["run_id"], cwd=git_repo, env=_env(slurm_cluster)).stdout
    assert "state     running" in shown and f"note      Slurm job {out['job_id']} running on n1" in shown
    s = expkit("runs", "stop", out["run_id"], "--json", cwd=git_repo, env=_env(slurm_cluster))
    assert s.returncode == 0, s
    assert s.json()["state"] == "stopped" and s.json()["signals"] == ["scancel"]
    q = subprocess.run(["squeue", "-h", "-j", out["job_id"], "-o", "%T"], env={**os.environ, **slurm_cluster.env},
                       capture_output=True, text=True)
    assert "RUNNING" not in q.stdout and "PENDING" not in q.stdout
    w = expkit("runs", "wait", out["run_id"], "--json", cwd=git_repo, env=_env(slurm_cluster))
    assert w.json()["state"] == "stopped"


def test_usr1_lets_the_job_checkpoint_and_requeue(slurm_cluster, git_repo, expkit):
    """What Slurm does 90 s before the time limit, sent by hand: the job saves, is requeued and resumes."""
    (git_repo / "resumable.py").write_text(
        "import os, pathlib, signal, sys, time\n"
        "run = pathlib.Path(os.environ['EXPKIT_RUN_DIR'])\n"
        "ckpt = run / 'ckpt.txt'\n"
        "if ckpt.exists():\n"
        "    print('resumed from', ckpt.read_text(), 'restart', os.environ.get('SLURM_RESTART_COUNT'), flush=True)\n"
        "    sys.exit(0)\n"
        "def save(signum, frame):\n"
        "    ckpt.write_text('step 5')\n"
        "    print('checkpoint saved', flush=True)\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGUSR1, save)\n"
        "(run / 'started').touch()\n"
        "time.sleep(600)\n")
    out = expkit("launch", "--backend", "slurm", "--json", "--", "python3", "resumable.py", cwd=git_repo,
                 env=_env(slurm_cluster)).json()
    run_dir = Path(out["run_dir"])
    _wait_for_file(run_dir / "started")
    env = {**os.environ, **slurm_cluster.env}
    subprocess.run(["scancel", "--batch", "--signal=USR1", out["job_id"]], env=env, check=True)
    # Slurm holds a requeued job for about 2 minutes (Reason=BeginTime); once it is back in the queue, let it go now
    deadline = time.monotonic() + 60
    while subprocess.run(["squeue", "-h", "-j", out["job_id"], "-o", "%T"], env=env, capture_output=True,
                         text=True).stdout.strip() != "PENDING":
        assert time.monotonic() < deadline, "the job was never requeued"
        time.sleep(0.2)
    subprocess.run(["scontrol", "update", f"JobId={out['job_id']}", "StartTime=now"], env=env, check=True)
    w = expkit("runs", "wait", out["run_id"], "--json", "--timeout", "240", cwd=git_repo, env=_env(slurm_cluster))
    assert w.returncode == 0, w
    assert w.json()["state"] == "succeeded"
    log = (run_dir / "stdout.log").read_text()
    assert "checkpoint saved" in log and "requeueing job" in log and "resumed from step 5 restart 1" in log
    st = expkit("runs", "show", out["run_id"], "--json", cwd=git_repo, env=_env(slurm_cluster)).json()["status"]
    assert st["restarts"] == 1
    events = [json.loads(x)["event"] for x in (run_dir / "slurm_events.jsonl").read_text().splitlines()]
    assert events == ["start", "requeue", "start", "end"]


def _prepare_many(repo: Path, n: int, argv_of):
    ctx = None
    items = []
    for i in range(n):
        req = LaunchRequest(argv=argv_of(i), name="trial", cwd=repo, seed=i, group="sweep1", backend="slurm",
                            runs_dir=repo / "runs")
        if ctx is None:
            ctx = capture_context(req.argv, dict(os.environ), repo, repo / "runs")
        run, env, _ = prepare(req, ctx)
        items.append((run, req.argv, env))
    return items


def test_sweep_as_a_job_array_on_two_nodes_with_batched_status(slurm_cluster_2nodes, git_repo, expkit, tmp_path):
    requests = [LaunchRequest(argv=["python3", "-c", f"import os; print('trial {i}', os.environ['EXPKIT_SEED'])"],
                              name="trial", cwd=git_repo, seed=i, group="sweep1") for i in range(4)]
    subs = submit_requests("slurm", requests, limit=2)
    array_id = subs[0].job_id.split("_")[0]
    assert [s.job_id for s in subs] == [f"{array_id}_{i}" for i in range(4)]
    store = RunStore(git_repo / "runs")
    items = [(store.get(s.run_id), None, None) for s in subs]
    manifest = items[0][0].manifest()
    assert manifest["group"] == "sweep1" and manifest["backend"]["name"] == "slurm"
    array_script = Path(manifest["backend"]["array"]["script"]).read_text()
    assert "#SBATCH --array=0-3%2" in array_script

    for run, _, _ in items:
        w = expkit("runs", "wait", run.id, "--json", cwd=git_repo, env=_env(slurm_cluster_2nodes))
        assert w.returncode == 0, w
    for i, (run, _, _) in enumerate(items):
        assert run.log_path.read_text().strip() == f"trial {i} {i}"  # each task wrote into its own run dir
        assert run.manifest()["backend"]["nodes"] in ("n1", "n2")

    # `runs list` asks Slurm once for all runs still in flight: count squeue calls through a shim on PATH
    more = _prepare_many(git_repo, 3, lambda i: ["sleep", "300"])
    backends.launch_runs("slurm", more, git_repo, limit=1)
    shim = tmp_path / "shim"
    shim.mkdir()
    calls = tmp_path / "calls.txt"
    real = subprocess.run(["which", "squeue"], capture_output=True, text=True).stdout.strip()
    (shim / "squeue").write_text(f"#!/bin/sh\necho call >> {calls}\nexec {real} \"$@\"\n")
    (shim / "squeue").chmod(0o755)
    env = _env(slurm_cluster_2nodes, PATH=f"{shim}:{os.environ['PATH']}")
    listed = expkit("runs", "list", "--json", cwd=git_repo, env=env).json()["runs"]
    states = sorted(x["state"] for x in listed)
    assert states.count("succeeded") == 4 and len(states) == 7
    assert set(states) - {"succeeded"} <= {"queued", "running"}
    assert calls.read_text().count("call") == 1
    for run, _, _ in more:
        assert expkit("runs", "stop", run.id, "--json", cwd=git_repo, env=env).json()["state"] == "stopped"


def test_multi_node_job_gets_both_nodes(slurm_cluster_2nodes, git_repo, expkit):
    env = _env(slurm_cluster_2nodes)
    out = expkit("launch", "--backend", "slurm", "--nodes", "2", "--json", "--", "srun", "bash", "-c",
                 "echo task on $SLURMD_NODENAME", cwd=git_repo, env=env).json()
    assert expkit("runs", "wait", out["run_id"], cwd=git_repo, env=env).returncode == 0
    lines = Path(out["run_dir"], "stdout.log").read_text().splitlines()
    assert "task on n1" in lines and "task on n2" in lines
    shown = expkit("runs", "show", out["run_id"], "--json", cwd=git_repo, env=env).json()
    assert shown["manifest"]["backend"]["nodes"] == "n[1-2]"


def test_backends_command_reports_slurm(slurm_cluster, expkit, tmp_path):
    r = expkit("backends", "--json", cwd=tmp_path, env=_env(slurm_cluster))
    rows = {x["name"]: x for x in r.json()["backends"]}
    assert rows["local"]["usable"] and rows["slurm"]["usable"] and "debug" in rows["slurm"]["detail"]
    # the same cluster's config with its controller's port closed: a controller that is down
    dead = tmp_path / "dead.conf"
    dead.write_text(re.sub(r"SlurmctldPort=\d+", f"SlurmctldPort={_closed_port()}", slurm_cluster.conf.read_text()))
    down = expkit("backends", "--json", cwd=tmp_path, env={"SLURM_CONF": str(dead)})
    slurm = {x["name"]: x for x in down.json()["backends"]}["slurm"]
    assert not slurm["usable"] and "DOWN" in slurm["detail"] and "SLURM_CONF" in slurm["hint"]
    r = expkit("launch", "--backend", "slurm", "--", "true", cwd=tmp_path, env={"SLURM_CONF": str(dead)})
    assert r.returncode == 2 and "cannot be used here" in r.stderr and not (tmp_path / "runs").exists()


def test_status_survives_an_unreachable_controller(slurm_cluster, git_repo, expkit, tmp_path):
    env = _env(slurm_cluster)
    out = expkit("launch", "--backend", "slurm", "--json", "--", "sleep", "300", cwd=git_repo, env=env).json()
    dead = tmp_path / "dead.conf"
    conf = re.sub(r"SlurmctldPort=\d+", f"SlurmctldPort={_closed_port()}", slurm_cluster.conf.read_text())
    dead.write_text(re.sub(r"SlurmctldTimeout=\d+", "SlurmctldTimeout=1", conf) + "MessageTimeout=1\n")  # give up fast
    shown = expkit("runs", "show", out["run_id"], "--json", cwd=git_repo, env={"SLURM_CONF": str(dead)})
    assert shown.returncode == 0, shown
    st = shown.json()["status"]
    assert st["state"] in ("queued", "running") and st["note"].startswith("cannot reach Slurm")
    assert expkit("runs", "stop", out["run_id"], "--json", cwd=git_repo, env=env).json()["state"] == "stopped"


def test_demo_section_submits_a_run_to_slurm(slurm_cluster, git_repo):
    from expkit.backends.demo import backends_section

    lines: list[str] = []
    run = backends_section(git_repo, lines.append, ["python3", "train.py", "2"])
    text = "\n".join(lines)
    assert "slurm  ok" in text and "#SBATCH --time=10" in text and "succeeded (exit 0) on node n1" in text
    assert run.status()["state"] == "succeeded"


def test_remote_job_handle_waits_and_cancels_on_timeout(slurm_cluster, git_repo):
    """The handle a plan runner uses for a sub-experiment on Slurm."""
    (ok, ok_argv, ok_env), (slow, slow_argv, slow_env) = _prepare_many(
        git_repo, 2, lambda i: ["python3", "train.py", "1"] if i == 0 else ["sleep", "300"])
    assert RemoteJob("slurm", ok, ok_argv, git_repo, ok_env).wait() == {
        "state": "succeeded", "reason": "exited with code 0", "exit_code": 0, "signal": None}
    out = RemoteJob("slurm", slow, slow_argv, git_repo, slow_env, timeout=1).wait()
    assert out["state"] == "failed" and "timed out after 1s" in out["reason"]
    assert slow.status()["state"] == "stopped"
