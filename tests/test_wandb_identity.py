"""The W&B run behind an expkit run is named and read everywhere: real wandb runs in offline mode (wandb 0.31 writes
no summary file offline: the history comes from the transaction log), read back through the real CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from expkit.monitor.wandb_local import run_identity

wandb = pytest.importorskip("wandb")

# Logs only to W&B (prints nothing a log parser could pick up): the metrics exist only in the W&B run.
TRIAL = """\
import sys, wandb
lr = float(sys.argv[1])
run = wandb.init(config={"lr": lr})
for step in range(4):
    wandb.log({"loss": (lr - 0.05) ** 2 + 1.0 / (step + 1), "acc": step / 4})
wandb.finish()
"""


def test_sweep_report_and_compare_find_the_best_wandb_logged_trial(expkit, tmp_path):
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "t.py").write_text(TRIAL)
    (proj / "s.yaml").write_text("name: wb\nproject: expkit-test\nmethod: grid\n"
                                 "metric: {name: loss, goal: minimize}\n"
                                 "parameters: {lr: {values: [0.01, 0.05, 0.3]}}\n"
                                 f"command: {sys.executable} t.py ${{lr}}\n")
    r = expkit("sweep", "run", "s.yaml", "--gpus", "none", "--json", cwd=proj, timeout=240)
    assert r.returncode == 0, r
    assert not list((proj / "runs").glob("*/wandb/*/files/wandb-summary.json")), "offline: no summary file"
    report = expkit("sweep", "report", "wb", "--no-plots", "--json", cwd=proj)
    assert report.returncode == 0, report
    out = report.json()
    assert out["best"] is not None and out["best"]["params"]["lr"] == 0.05
    assert out["best"]["best"] == pytest.approx(0.25)  # min over the history: step 3, 1/4
    assert all(t["best"] is not None for t in out["trials"])
    run_ids = [t["run_id"] for t in out["trials"]]
    cmp = expkit("runs", "compare", *run_ids, "--metric", "loss", "--json", cwd=proj)
    assert cmp.returncode == 0, cmp
    text = json.dumps(cmp.json())
    assert "0.25" in text and '"acc"' in text, text[:2000]
    metrics = expkit("runs", "metrics", run_ids[0], "--json", cwd=proj).json()
    assert metrics["source"] == "wandb" and metrics["metrics"]["loss"]["count"] == 4
    assert metrics["metrics"]["loss"]["best"] == pytest.approx(out["best"]["best"])


def test_runs_show_and_metrics_name_the_wandb_run(expkit, tmp_path):
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "t.py").write_text(TRIAL)
    res = expkit("launch", "--wandb-project", "idtest", "--json", "--", sys.executable, "t.py", "0.1", cwd=proj)
    assert res.returncode == 0, res
    run_id = res.json()["run_id"]
    assert expkit("runs", "wait", run_id, "--timeout", "120", cwd=proj, timeout=180).returncode == 0
    show = expkit("runs", "show", run_id, "--json", cwd=proj)
    assert show.returncode == 0, show
    wb = show.json()["wandb"]
    folder = Path(wb["dir"])
    assert folder.name.startswith("offline-run-") and folder.name.endswith(wb["id"]) and folder.is_dir()
    assert Path(show.json()["run_dir"]) in folder.parents, "WANDB_DIR is the run dir"
    assert wb["mode"] == "offline" and wb["url"] is None and wb["state"] == "finished"
    assert wb["sync_command"] == f"wandb sync {folder}"
    assert wb["resume"] == f'wandb.init(project="idtest", id="{wb["id"]}", resume="must")'
    text = expkit("runs", "show", run_id, cwd=proj).stdout
    assert f"run {wb['id']} (offline, finished)" in text and f"wandb sync {folder}" in text
    assert 'resume="must"' in text and "after wandb sync" in text
    metrics = expkit("runs", "metrics", run_id, "--json", cwd=proj).json()
    assert metrics["wandb"]["id"] == wb["id"] and metrics["wandb"]["sync_command"] == wb["sync_command"]
    assert metrics["metrics"]["loss"]["count"] == 4
    assert f"wandb sync {folder}" in expkit("runs", "metrics", run_id, cwd=proj).stdout
    plain = expkit("launch", "--json", "--", sys.executable, "-c", "print('loss=1')", cwd=proj).json()["run_id"]
    expkit("runs", "wait", plain, "--timeout", "60", cwd=proj)
    assert expkit("runs", "show", plain, "--json", cwd=proj).json()["wandb"] is None


def test_online_run_url_from_entity_and_project_or_from_the_log():
    folder = Path("/x/wandb/run-20261201_101010-ab12cd34")
    ident = run_identity(folder, {"project": "mnist", "entity": "lab"})
    assert ident["mode"] == "online" and ident["sync_command"] is None
    assert ident["url"] == "https://wandb.ai/lab/mnist/runs/ab12cd34"
    assert ident["resume"] == 'wandb.init(project="mnist", entity="lab", id="ab12cd34", resume="must")'
    server = run_identity(folder, {"project": "mnist", "entity": "lab"}, base_url="https://wandb.corp.example:8443")
    assert server["url"] == "https://wandb.corp.example:8443/lab/mnist/runs/ab12cd34"
    printed = "wandb: 🚀 View run swift-1 at: https://wandb.ai/someone/proj/runs/ab12cd34\n"
    assert run_identity(folder, {}, printed)["url"] == "https://wandb.ai/someone/proj/runs/ab12cd34"
    assert run_identity(folder, {})["url"] is None  # no entity known, nothing printed: no guessed URL


def test_plan_plots_read_a_wandb_only_run(tmp_path):
    """A sub-experiment whose training logged only to W&B still gets its curves."""
    import os
    import subprocess

    from expkit.report.plots import read_curves

    run_dir = tmp_path / "runs" / "e1_20261201-000000"
    run_dir.mkdir(parents=True)
    (tmp_path / "t.py").write_text(TRIAL)
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(run_dir), "WANDB_SILENT": "true"}
    subprocess.run([sys.executable, str(tmp_path / "t.py"), "0.05"], cwd=tmp_path, env=env, check=True, timeout=120)
    curves = read_curves(run_dir)
    assert [v for _, v in curves["loss"]] == pytest.approx([1.0, 0.5, 1 / 3, 0.25])
    assert [s for s, _ in curves["loss"]] == [0, 1, 2, 3]


def test_expkit_without_wandb_reads_the_run_with_the_projects_wandb(expkit, tmp_path):
    """The real split: expkit's own interpreter has no wandb; the run's project interpreter (from its manifest)
    has it, and its `wandb leet` reads the offline history."""
    import os
    import subprocess

    from conftest import HELPERS

    base = Path(sys.base_prefix) / "bin" / "python3"
    probe = "import importlib.util as u, sys; sys.exit(0 if all(u.find_spec(m) for m in ('click', 'libcst', 'yaml')) " \
            "and not u.find_spec('wandb') else 1)"
    if not base.exists() or subprocess.run([str(base), "-c", probe]).returncode != 0:
        pytest.skip("needs a base interpreter with expkit's dependencies and without wandb")
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "t.py").write_text(TRIAL)
    res = expkit("launch", "--wandb-project", "split", "--json", "--", sys.executable, "t.py", "0.1", cwd=proj)
    run_id = res.json()["run_id"]
    assert expkit("runs", "wait", run_id, "--timeout", "120", cwd=proj, timeout=180).returncode == 0
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if Path(p) != Path(sys.executable).parent)
    env = {**os.environ, "PATH": path, "PYTHONPATH": str(HELPERS), "WANDB_MODE": "offline"}
    out = subprocess.run([str(base), "-m", "expkit", "runs", "metrics", run_id, "--json"], cwd=proj, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["source"] == "wandb" and data["metrics"]["loss"]["count"] == 4, data["tried"]
    assert data["wandb"]["project"] == "split" and data["wandb"]["state"] == "finished"
