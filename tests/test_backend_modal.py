"""The Modal backend, as far as it runs without Modal's cloud (no network here).

Real: the `modal` package builds the App, Image, Volume and Secret objects (all lazy, no network), and the
function body runs through Modal's own `.local()` path as a real subprocess of the real command.
Stand-in at the cloud boundary: a temp folder plays the Volume's /<run id>/ folder for `sync`.
Not run here: `app.run()`/`spawn`, `FunctionCall.get/cancel`, `Volume.listdir/read_file` (see references/backends.md).
Skipped when the optional `modal` package is not installed (pip install 'expkit[modal]').
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

modal = pytest.importorskip("modal", reason="the optional modal extra is not installed (pip install modal==1.6.4)")

from expkit import backends  # noqa: E402
from expkit.backends import modal as mb  # noqa: E402
from expkit.runs.launch import LaunchRequest, prepare  # noqa: E402

NO_CREDS = {"MODAL_TOKEN_ID": "", "MODAL_TOKEN_SECRET": ""}


def _prepared(repo: Path, argv, **kw):
    req = LaunchRequest(argv=argv, cwd=repo, runs_dir=repo / "runs", backend="modal", seed=3, **kw)
    return prepare(req)


def test_time_and_memory_convert_to_modal_units():
    assert mb.time_seconds("90") == 5400
    assert mb.time_seconds("4:00:00") == 14400
    assert mb.time_seconds("1-12:00:00") == 129600
    assert mb.mem_mib("32G") == 32768 and mb.mem_mib("512M") == 512


def test_image_spec_follows_the_projects_dependency_file(git_repo):
    be = backends.get("modal", gpus="A100", time="2:00:00")
    spec = be.image_spec(git_repo, "3.11.7")
    assert spec["python"] == "3.11" and spec["dependencies"] is None
    (git_repo / "pyproject.toml").write_text("[project]\nname='p'\nversion='0'\ndependencies=['numpy']\n")
    assert be.image_spec(git_repo)["dependencies"] == {"kind": "pyproject", "path": str(git_repo / "pyproject.toml")}
    (git_repo / "requirements.txt").write_text("numpy==2.1.0\n")
    spec = be.image_spec(git_repo)
    assert spec["dependencies"]["kind"] == "requirements"  # requirements.txt wins: it is what pip installs
    assert spec["code"]["remote"] == "/root/project" and "runs" in spec["code"]["ignore"]
    assert isinstance(be.build_image(spec), modal.Image)


def test_app_is_built_with_gpu_timeout_volume_and_secrets(git_repo):
    run, env, _ = _prepared(git_repo, ["/usr/bin/python3", "train.py", "2"])
    be = backends.get("modal", gpus="H100:2", time="30", cpus=4, mem="16G", secrets=["wandb"], volume="my-results")
    opts = be.function_options()
    assert opts["gpu"] == "H100:2" and opts["timeout"] == 1800 and opts["cpu"] == 4.0 and opts["memory"] == 16384
    assert isinstance(opts["volumes"]["/results"], modal.Volume)
    assert len(opts["secrets"]) == 1 and isinstance(opts["secrets"][0], modal.Secret)
    app, fn, spec, ispec = be.build_app(run, ["/usr/bin/python3", "train.py", "2"], git_repo, env)
    assert app.name == f"expkit-{run.id}" and isinstance(fn, modal.Function)
    assert spec["argv"] == ["python", "train.py", "2"]  # this machine's interpreter path is not in the image
    assert spec["env"]["EXPKIT_SEED"] == "3" and "EXPKIT_RUN_DIR" not in spec["env"]


def test_function_body_runs_locally_and_sync_brings_results_back(git_repo, tmp_path):
    """The body through Modal's `.local()`; a temp folder stands in for the mounted Volume."""
    (git_repo / "train.py").write_text(
        "import os, pathlib\n"
        "print('seed', os.environ['EXPKIT_SEED'], 'secret', os.environ.get('WANDB_API_KEY'), flush=True)\n"
        "pathlib.Path(os.environ['EXPKIT_RUN_DIR'], 'model.txt').write_text('weights')\n")
    os.environ["WANDB_API_KEY"] = "hunter2-not-for-disk"
    try:
        run, env, _ = _prepared(git_repo, ["python3", "train.py"])
        be = backends.get("modal")
        app, fn, spec, _ = be.build_app(run, ["python3", "train.py"], git_repo, env)
    finally:
        del os.environ["WANDB_API_KEY"]
    assert "WANDB_API_KEY" not in spec["env"]  # secrets travel as Modal Secrets, never in the call
    volume = tmp_path / "volume"
    spec.update(volume_mount=str(volume), cwd=str(git_repo))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Modal warns that .local() has no real Volume: that is the point here
        result = fn.local(spec)
    assert result["state"] == "succeeded" and result["exit_code"] == 0

    out = mb.sync_files(run, mb.local_dir_files(volume / run.id))
    assert set(out["copied"]) == {"stdout.log", "model.txt", "remote_status.json"}
    assert (run.path / "model.txt").read_text() == "weights"
    assert "seed 3 secret None" in run.log_path.read_text()
    st = run.raw_status()
    assert st["state"] == "succeeded" and st["exit_code"] == 0 and st["synced_at"]
    assert run.manifest()["run_id"] == run.id  # the manifest is never overwritten by a sync


def test_failing_command_is_reported_by_the_body(git_repo, tmp_path):
    run, env, _ = _prepared(git_repo, ["python3", "-c", "raise SystemExit(4)"])
    app, fn, spec, _ = backends.get("modal").build_app(run, ["python3", "-c", "raise SystemExit(4)"], git_repo, env)
    spec.update(volume_mount=str(tmp_path), cwd=str(git_repo))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fn.local(spec)
    assert result["state"] == "failed" and result["exit_code"] == 4


def test_missing_credentials_refuse_before_any_run_exists(git_repo, expkit, tmp_path):
    env = {**NO_CREDS, "HOME": str(tmp_path), "MODAL_CONFIG_PATH": str(tmp_path / "none.toml")}
    r = expkit("launch", "--backend", "modal", "--gpus", "A10G", "--", "python", "train.py", cwd=git_repo, env=env)
    assert r.returncode == 2, r
    assert "error: the Modal backend cannot be used here: no Modal credentials" in r.stderr
    assert "hint: run `modal token new`" in r.stderr
    assert not (git_repo / "runs").exists() or not any(p.is_dir() for p in (git_repo / "runs").iterdir())
    rows = {x["name"]: x for x in expkit("backends", "--json", cwd=tmp_path, env=env).json()["backends"]}
    assert rows["modal"]["usable"] is False and "modal token new" in rows["modal"]["hint"]
    r = expkit("launch", "--secret", "wandb", "--", "python", "train.py", cwd=git_repo, env=env)
    assert r.returncode == 2 and "--secret names a Modal secret" in r.stderr

