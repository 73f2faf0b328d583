"""`expkit plan run --backend modal` and `expkit plan sync`, as far as they run without Modal's cloud (no network).

Real: the `modal` package builds each sub-experiment's App, Image, Volume, Secret and Function (lazy objects, nothing
sent); the function body runs through Modal's own `Function.local()` path, which starts the real plan worker on
the real fixture project; the plan runner, results.yaml, the verdict and FINDINGS.md are expkit's own.
Faked at the cloud boundary (tests/fakes/modal_cloud.py): `app.run(detach=True)` + `spawn` become `.local()`
with a temp folder as the Volume, `Volume.listdir/read_file` read that folder, and the credentials are dummy
values (only their presence is checked). Not run here: see references/backends.md.
Tests that need the `modal` package skip, saying so, when the optional extra is not installed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import expkit_env
from fixtures.plans.projects import load_yaml, project

FAKES = Path(__file__).resolve().parent / "fakes"
CREDS = {"MODAL_TOKEN_ID": "ak-dummy", "MODAL_TOKEN_SECRET": "as-dummy"}
needs_modal = pytest.mark.skipif(
    __import__("importlib").util.find_spec("modal") is None,
    reason="the optional modal extra is not installed (pip install modal==1.6.4)")


def on_fake_modal(volume: Path, *args: str, cwd: Path):
    """The real expkit CLI in a subprocess, Modal's cloud replaced by `.local()` and a folder (see module doc)."""
    env = expkit_env(CREDS)
    env["PYTHONPATH"] = f"{FAKES}:{env['PYTHONPATH']}"
    return subprocess.run([sys.executable, "-m", "modal_cloud", str(volume), *args], cwd=cwd, env=env,
                          capture_output=True, text=True)


def _sections(findings: Path, names=("summary", "metrics")) -> dict[str, str]:
    text = findings.read_text()
    return {n: re.search(f"<!-- expkit:begin {n} -->(.*?)<!-- expkit:end {n} -->", text, re.S).group(1)
            for n in names}


@needs_modal
def test_sub_experiment_becomes_a_modal_function_with_the_plans_code_and_options(tmp_path, monkeypatch):
    """Cloud absent: `spawn` is replaced by a recorder, so nothing runs; the App, Function and call are real objects."""
    import modal

    from expkit.backends.modal import ModalBackend
    from expkit.plan.execute import run_experiment
    from expkit.plan.schema import load_plan

    proj = project(tmp_path)
    (proj / "requirements.txt").write_text("numpy\n")
    for k, v in CREDS.items():
        monkeypatch.setenv(k, v)
    calls = []
    monkeypatch.setattr(ModalBackend, "spawn", lambda self, app, fn, spec: calls.append((self, app, fn, spec))
                        or f"fc-{len(calls)}")
    plan = load_plan(proj / "research" / "research_plan.yaml")
    report = run_experiment(plan, "lab-isolation", subs=["ok", "hang"], backend="modal",
                            backend_options={"gpus": "A100", "time": "2:00:00", "cpus": 4, "mem": "16G",
                                             "secrets": ["wandb"]})
    assert [c[3]["run_id"] for c in calls] == [u["run_id"] for u in report.ran]
    assert [u["status"] for u in report.ran] == ["submitted", "submitted"]

    (be_ok, app, fn, spec), (be_hang, _, _, _) = calls
    assert isinstance(app, modal.App) and app.name == f"expkit-{spec['run_id']}" and isinstance(fn, modal.Function)
    opts = be_ok.function_options()
    assert opts["gpu"] == "A100" and opts["timeout"] == 7200 and opts["cpu"] == 4.0 and opts["memory"] == 16384
    assert isinstance(opts["volumes"]["/results"], modal.Volume)
    assert len(opts["secrets"]) == 1 and isinstance(opts["secrets"][0], modal.Secret)
    assert be_hang.function_options()["timeout"] == 10  # `hang` has timeout: 1; Modal's shortest is 10 s

    assert spec["argv"] == ["python", "-m", "expkit.plan.worker"] and spec["cwd"] == "/root/project"
    assert spec["volume_mount"] == "/results" and spec["expkit_importable"] is True
    job = json.loads(spec["files"]["job.json"])
    assert job["sub_id"] == "ok" and job["experiment_dir"] == "experiment"
    assert job["source"]["paths"] == [".", "handlers"] and job["source"]["location"] == "handlers/lab"
    assert str(proj) not in spec["files"]["job.json"]  # nothing names this machine's folders

    manifest = json.loads((proj / "runs" / spec["run_id"] / "manifest.json").read_text())
    image = manifest["backend"]["image"]
    assert image["dependencies"] == {"kind": "requirements", "path": str(proj / "requirements.txt")}
    assert image["code"] == {"local": str(proj), "remote": "/root/project", "ignore": image["code"]["ignore"]}
    assert manifest["backend"]["function_call_id"] == "fc-1"
    status = json.loads((proj / "runs" / spec["run_id"] / "status.json").read_text())
    assert status["state"] == "queued" and status["backend"] == "modal"
    doc = load_yaml(proj / "research" / "experiments" / "lab-isolation" / "results.yaml")
    assert doc["status"] == "in_progress" and doc["completed_at"] is None
    assert doc["expkit"]["runs"]["ok"][0]["status"] == "submitted" and doc["expkit"]["runs"]["ok"][0]["job_id"] == "fc-1"


@needs_modal
def test_plan_on_modal_then_sync_gives_the_same_verdict_as_a_local_run(tmp_path, expkit):
    """Cloud faked: the body runs via `.local()` into a folder standing in for the Volume; sync reads it back."""
    local, remote, volume = project(tmp_path / "local"), project(tmp_path / "modal"), tmp_path / "volume"
    for exp in ("lab-curve", "lab-seeds"):
        assert expkit("plan", "run", exp, cwd=local).returncode == 0

        r = on_fake_modal(volume, "plan", "run", exp, "--backend", "modal", "--gpus", "T4", "--json", cwd=remote)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["status"] == "in_progress" and out["sync_command"] == f"expkit plan sync {exp}"
        assert not (remote / "research" / "experiments" / exp / "FINDINGS.md").exists()  # not judged before sync
        shown = expkit("plan", "status", exp, "--json", cwd=remote).json()["experiments"][0]
        assert shown["on_modal"] == len(out["submitted"]) and set(shown["subs"].values()) == {"submitted (on Modal)"}
        again = on_fake_modal(volume, "plan", "run", exp, "--backend", "modal", cwd=remote)
        assert again.returncode == 2 and f"hint: run `expkit plan sync {exp}` first" in again.stderr

        r = on_fake_modal(volume, "plan", "sync", exp, cwd=remote)
        assert r.returncode == 0, r.stderr
        assert "Recommendation:" in r.stdout

        want = load_yaml(local / "research" / "experiments" / exp / "results.yaml")
        got = load_yaml(remote / "research" / "experiments" / exp / "results.yaml")
        for key in ("status", "assessment", "recommendation", "recommendation_notes"):
            assert got[key] == want[key], key
        for sub, entry in want["results"]["experiments"].items():
            assert {k: v for k, v in got["results"]["experiments"][sub].items()} == entry, sub
        assert got["expkit"]["criteria"] == want["expkit"]["criteria"] and got["completed_at"]
        assert all(r["attempts"] == 1 for items in got["expkit"]["runs"].values() for r in items)
        exp_dir = remote / "research" / "experiments" / exp
        assert _sections(exp_dir / "FINDINGS.md") == _sections(local / "research" / "experiments" / exp / "FINDINGS.md")

    curve = remote / "research" / "experiments" / "lab-curve"
    for art in ("artifacts/arrays.json", "artifacts/notes/hello.txt"):  # the Volume's artifacts, where local puts them
        assert (curve / art).read_bytes() == (local / "research" / "experiments" / "lab-curve" / art).read_bytes()
    run_id = load_yaml(curve / "results.yaml")["expkit"]["runs"]["curve"][0]["run_id"]
    run_dir = remote / "runs" / run_id
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 5  # the curve, step by step
    assert "expkit: running lab-curve/curve seed=0" in (run_dir / "stdout.log").read_text()
    assert not (run_dir / "experiment").exists()  # artifacts moved, not kept twice
    assert json.loads((run_dir / "job.json").read_text())["experiment_dir"] == str(curve)  # the local job.json stays
    shown = expkit("runs", "show", run_id, "--json", cwd=remote).json()
    assert shown["status"]["state"] == "succeeded" and shown["manifest"]["backend"]["name"] == "modal"
    assert (remote / "research" / "FINDINGS.md").exists()  # the project rollup, as after a local run

    r = on_fake_modal(volume, "runs", "sync", run_id, cwd=remote)
    assert r.returncode == 2 and "hint: run `expkit plan sync lab-curve`" in r.stderr  # results.yaml stays whole
    r = on_fake_modal(volume, "plan", "sync", "lab-curve", cwd=remote)
    assert r.returncode == 0 and "nothing left on Modal" in r.stdout
    r = expkit("plan", "sync", "lab-curve", cwd=local)
    assert r.returncode == 0 and "lab-curve ran locally" in r.stdout and "nothing to fetch" in r.stdout


@needs_modal
def test_failure_on_modal_comes_back_with_its_traceback(tmp_path, expkit):
    """Cloud faked as above. A failing handler and a sub-experiment that depends on it: judged as locally."""
    local, remote, volume = project(tmp_path / "local"), project(tmp_path / "modal"), tmp_path / "volume"
    subs = ["--sub", "ok,boom,after_boom"]
    assert expkit("plan", "run", "lab-isolation", *subs, cwd=local).returncode == 1
    r = on_fake_modal(volume, "plan", "run", "lab-isolation", *subs, "--backend", "modal", cwd=remote)
    assert r.returncode == 0, r.stderr
    doc = load_yaml(remote / "research" / "experiments" / "lab-isolation" / "results.yaml")
    assert "expkit plan sync lab-isolation" in doc["expkit"]["runs"]["after_boom"][0]["reason"]

    r = on_fake_modal(volume, "plan", "sync", "lab-isolation", cwd=remote)
    assert r.returncode == 1, r.stderr
    assert "boom: ZeroDivisionError: division by zero" in r.stdout
    assert "Re-run them: expkit plan run lab-isolation --rerun-failed" in r.stdout
    got = load_yaml(remote / "research" / "experiments" / "lab-isolation" / "results.yaml")
    want = load_yaml(local / "research" / "experiments" / "lab-isolation" / "results.yaml")
    for key in ("status", "assessment", "recommendation"):
        assert got[key] == want[key], key
    assert "1 / 0" in got["expkit"]["runs"]["boom"][0]["traceback"]
    run_id = got["expkit"]["runs"]["boom"][0]["run_id"]
    status = json.loads((remote / "runs" / run_id / "status.json").read_text())
    assert status["state"] == "failed" and status["exit_code"] == 1


def test_missing_modal_package_or_credentials_record_nothing(tmp_path, expkit):
    """Modal absent: no credentials (an empty HOME), or the package made unimportable in the child process."""
    proj = project(tmp_path)
    no_creds = {"MODAL_TOKEN_ID": "", "MODAL_TOKEN_SECRET": "", "HOME": str(tmp_path),
                "MODAL_CONFIG_PATH": str(tmp_path / "none.toml")}
    results = proj / "research" / "experiments" / "lab-curve" / "results.yaml"

    r = expkit("plan", "run", "lab-curve", "--backend", "modal", "--gpus", "A100", cwd=proj, env=no_creds)
    assert r.returncode == 2 and "error: the Modal backend cannot be used here:" in r.stderr
    if __import__("importlib").util.find_spec("modal") is not None:
        assert "no Modal credentials" in r.stderr and "hint: run `modal token new`" in r.stderr
    code = "import sys; sys.modules['modal'] = None; from expkit.cli import main; main(sys.argv[1:])"
    r = subprocess.run([sys.executable, "-c", code, "plan", "run", "lab-curve", "--backend", "modal"], cwd=proj,
                       env=expkit_env(CREDS), capture_output=True, text=True)
    assert r.returncode == 2 and "the modal package is not installed" in r.stderr
    assert "hint: pip install 'expkit[modal]'" in r.stderr
    assert not results.exists()
    assert not (proj / "runs").exists() or not any(p.is_dir() for p in (proj / "runs").iterdir())

    r = expkit("plan", "run", "lab-curve", "--secret", "wandb", cwd=proj)
    assert r.returncode == 2 and "--secret names a Modal secret" in r.stderr
    r = expkit("plan", "run", "lab-curve", "--gpus", "A100", cwd=proj)
    assert r.returncode == 2 and "--gpus only apply to --backend slurm or modal" in r.stderr
    assert not results.exists()


@needs_modal
def test_stub_run_on_modal_syncs_into_the_stub_results(tmp_path, expkit):
    """Cloud faked as above. `--stub` on Modal: the stub handler runs in the container, `plan sync --stub` judges."""
    local, remote, volume = project(tmp_path / "local"), project(tmp_path / "modal"), tmp_path / "volume"
    assert expkit("plan", "run", "lab-curve", "--stub", cwd=local).returncode == 0
    r = on_fake_modal(volume, "plan", "run", "lab-curve", "--stub", "--backend", "modal", cwd=remote)
    assert r.returncode == 0 and "expkit plan sync lab-curve --stub" in r.stdout, r.stderr
    r = on_fake_modal(volume, "plan", "sync", "lab-curve", "--stub", "--json", cwd=remote)
    assert r.returncode == 0, r.stderr
    stub_dir = Path("research") / "experiments" / "lab-curve" / "stub"
    got, want = load_yaml(remote / stub_dir / "results.yaml"), load_yaml(local / stub_dir / "results.yaml")
    assert got["status"] == want["status"] == "stub" and got["recommendation"] == want["recommendation"]
    assert (remote / stub_dir / "artifacts" / "stub.txt").read_text() == "stub artifact for curve\n"
    assert not (remote / "research" / "experiments" / "lab-curve" / "results.yaml").exists()  # never the real one


@needs_modal
def test_a_lost_run_dir_is_recorded_failed_and_rerun_failed_submits_it_again(tmp_path):
    """Cloud faked as above. A submitted unit whose local run dir was deleted cannot come back: failed, re-runnable."""
    import shutil

    proj, volume = project(tmp_path), tmp_path / "volume"
    assert on_fake_modal(volume, "plan", "run", "lab-seeds", "--backend", "modal", cwd=proj).returncode == 0
    results = proj / "research" / "experiments" / "lab-seeds" / "results.yaml"
    lost = load_yaml(results)["expkit"]["runs"]["noisy"][1]["run_id"]
    shutil.rmtree(proj / "runs" / lost)
    r = on_fake_modal(volume, "plan", "sync", "lab-seeds", cwd=proj)
    assert r.returncode == 1 and "is gone: it cannot be brought back" in r.stdout, r.stderr
    r = on_fake_modal(volume, "plan", "run", "lab-seeds", "--backend", "modal", "--rerun-failed", "--json", cwd=proj)
    assert r.returncode == 0 and [u["seed"] for u in json.loads(r.stdout)["ran"]] == [1], r.stderr
    assert on_fake_modal(volume, "plan", "sync", "lab-seeds", cwd=proj).returncode == 0
    doc = load_yaml(results)
    assert doc["status"] == "completed" and [r["attempts"] for r in doc["expkit"]["runs"]["noisy"]] == [1, 2, 1]
