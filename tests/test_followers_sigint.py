"""Ctrl-C stops every follower, also one that inherited SIGINT as ignored.

A process started in the background of a non-interactive shell (`expkit runs watch X &` in a script, a CI step)
inherits SIGINT as ignored; a follower that relied on that disposition never stopped on Ctrl-C. Here each
follower is started exactly so (SIG_IGN in the child before exec) and then sent a real SIGINT.
The Slurm sweep follower has the same test in test_backend_slurm_sweep_plan.py.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest

from conftest import expkit_env


def _ctrl_c(proc: subprocess.Popen, what: str) -> str:
    """Send SIGINT as Ctrl-C does and return the process's stderr once it ended (fail if it goes on)."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=30)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"Ctrl-C did not stop {what}")


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.fixture
def long_run(git_repo, expkit):
    (git_repo / "slow.py").write_text("import time\nprint('started', flush=True)\ntime.sleep(600)\n")
    r = expkit("launch", "--name", "slow", "--json", "--", sys.executable, "slow.py", cwd=git_repo)
    assert r.returncode == 0, r
    run_id = r.json()["run_id"]
    yield git_repo, run_id
    expkit("runs", "stop", run_id, "--grace", "1", cwd=git_repo)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("follower", [["runs", "watch", "{id}", "--interval", "0.2"],
                                      ["runs", "logs", "{id}", "--follow"]], ids=["watch", "logs-follow"])
def test_ctrl_c_stops_a_follower_that_inherited_sigint_ignored(long_run, follower):
    repo, run_id = long_run
    argv = [a.replace("{id}", run_id) for a in follower]
    proc = subprocess.Popen([sys.executable, "-m", "expkit", *argv], cwd=repo, env=expkit_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_ignore_sigint)
    first = proc.stdout.readline()  # the follower is in its loop once it printed something
    assert first, proc.stderr.read()
    err = _ctrl_c(proc, "the follower: it went on following")
    assert proc.returncode == 130, err
    assert err.strip().startswith("error:") and "Traceback" not in err
    status = subprocess.run([sys.executable, "-m", "expkit", "runs", "show", run_id, "--json"], cwd=repo,
                            env=expkit_env(), capture_output=True, text=True, timeout=60)
    assert '"state": "running"' in status.stdout  # stopping the follower does not stop the run


@pytest.mark.timeout(240)
def test_the_slurm_fixture_cancels_the_jobs_a_failed_test_left_running(pytester):
    """A test that fails with a job still running must not leave it to starve the next test of the module."""
    from slurm_cluster import missing_reason

    if missing_reason():
        pytest.skip(missing_reason())
    from conftest import ROOT

    for name in ("conftest.py", "slurm_cluster.py"):
        pytester.makepyfile(**{name[:-3]: (ROOT / "tests" / name).read_text()})
    pytester.makepyfile(test_inner=textwrap.dedent("""
        import os, subprocess
        from slurm_cluster import slurm_cluster  # noqa: F401

        def _env(cluster):
            return {**os.environ, **cluster.env}

        def test_fails_with_a_job_running(slurm_cluster, tmp_path):
            out = subprocess.run(["sbatch", "--parsable", "-o", "/dev/null", "--wrap", "sleep 600"],
                                 env=_env(slurm_cluster), capture_output=True, text=True, check=True)
            arr = subprocess.run(["sbatch", "--parsable", "-o", "/dev/null", "--array=0-7%2", "--wrap", "sleep 600"],
                                 env=_env(slurm_cluster), capture_output=True, text=True, check=True)
            assert {out.stdout.strip(), arr.stdout.strip()} <= set(slurm_cluster.jobs())
            assert False, "failed half-way"

        def test_the_next_test_finds_the_queue_empty(slurm_cluster):
            assert slurm_cluster.jobs() == []
    """))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-p", "no:xdist", timeout=220)
    result.assert_outcomes(passed=1, failed=1)
    assert "failed half-way" in result.stdout.str()


@pytest.mark.timeout(120)
def test_ctrl_c_stops_runs_wait_started_with_sigint_ignored(long_run):
    repo, run_id = long_run
    proc = subprocess.Popen([sys.executable, "-m", "expkit", "runs", "wait", run_id], cwd=repo, env=expkit_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_ignore_sigint)
    import time

    deadline = time.monotonic() + 60
    while not _waiting(proc.pid):  # in its wait loop: the handler is installed before it starts polling
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    err = _ctrl_c(proc, "`runs wait`")
    assert proc.returncode == 130 and "Traceback" not in err


def _waiting(pid: int) -> bool:
    """True once the process's SIGINT is caught (no longer ignored): read from /proc, no timing guess."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    return False
