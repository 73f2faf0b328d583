"""The backend protocol on the local backend: real detached runs through `expkit.backends`."""

from __future__ import annotations

import pytest

from expkit import backends
from expkit.errors import ExpkitError
from expkit.runs.control import wait
from expkit.runs.launch import LaunchRequest, capture_context, prepare


def _items(repo, argvs):
    ctx, items = None, []
    for argv in argvs:
        req = LaunchRequest(argv=argv, cwd=repo, runs_dir=repo / "runs", group="g")
        ctx = ctx or capture_context(argv, {}, repo, repo / "runs")
        run, env, _ = prepare(req, ctx)
        items.append((run, argv, env))
    return items


def test_submit_status_log_and_cancel(git_repo):
    be = backends.get("local")
    (run, argv, env), (run2, argv2, env2) = _items(git_repo, [["python3", "train.py", "2"], ["sleep", "60"]])
    sub = be.submit(run, argv, git_repo, env)
    assert sub.job_id and sub.state in ("running", "succeeded")
    assert wait(run, timeout=60)["state"] == "succeeded"
    assert "step=1" in be.log_path(run).read_text()
    assert be.status([run])[run.id]["exit_code"] == 0
    be.submit(run2, argv2, git_repo, env2)
    assert be.cancel(run2, grace=5)["state"] == "stopped"


def test_submit_array_keeps_to_the_limit_and_runs_every_item(git_repo):
    items = _items(git_repo, [["python3", "-c", f"print({i})"] for i in range(3)])
    subs = backends.launch_runs("local", items, git_repo, limit=1)
    assert [s.run_id for s in subs] == [r.id for r, _, _ in items]
    for i, (run, _, _) in enumerate(items):
        assert wait(run, timeout=60)["state"] == "succeeded"
        assert run.log_path.read_text().strip() == str(i)


def test_unknown_backend_and_options_are_refused():
    with pytest.raises(ExpkitError, match="unknown backend 'slurmm'") as exc:
        backends.get("slurmm")
    assert "did you mean slurm?" in exc.value.hint
    with pytest.raises(ExpkitError, match="takes no options"):
        backends.get("local", partition="gpu")
    with pytest.raises(ExpkitError, match="unknown Slurm option") as exc:
        backends.get("slurm", partiton="gpu")
    assert "partition" in exc.value.hint


def test_runs_sync_on_a_local_run_says_there_is_nothing_to_fetch(git_repo, expkit):
    assert expkit("launch", "--", "python3", "train.py", "1", cwd=git_repo).returncode == 0
    r = expkit("runs", "sync", "latest", "--json", cwd=git_repo)
    assert r.returncode == 0 and r.json()["backend"] == "local" and r.json()["copied"] == []
    r = expkit("backends", "--json", cwd=git_repo)
    assert r.returncode == 0 and {x["name"] for x in r.json()["backends"]} == {"local", "slurm", "modal"}
