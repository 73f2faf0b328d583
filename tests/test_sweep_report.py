"""`expkit sweep report` and `expkit sweep estimate` on a real sweep; the demo's sweep."""

from __future__ import annotations

import sys

from expkit.sweeps.demo import run_demo


def test_demo_sweep_runs_and_reports(tmp_path):
    lines = []
    out = run_demo(tmp_path / "demo", echo=lines.append)
    assert out["sweep"]["counts"]["succeeded"] == 6
    report = out["report"]
    assert report["metric"] == "val_loss" and report["best"]["params"]["lr"] == 0.3
    ranked = [t["best"] for t in report["trials"]]
    assert ranked == sorted(ranked)
    assert any("upper edge" in s and "lr" in s for s in report["suggestions"])
    assert len(report["plots"]) == 2 and all(open(p, "rb").read(4) == b"\x89PNG" for p in report["plots"])
    assert any("next steps:" in l for l in lines)


def test_report_finds_a_parameter_that_does_not_matter(expkit, tmp_path):
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "t.py").write_text("import sys\nlr, seedish = float(sys.argv[1]), int(sys.argv[2])\n"
                               "print(f'loss={(lr - 0.05) ** 2 + seedish * 1e-6}')\n")
    (proj / "s.yaml").write_text("name: s\nmethod: grid\nmetric: {name: loss, goal: minimize}\n"
                                 "parameters: {lr: {values: [0.01, 0.03, 0.05, 0.1, 0.3]}, k: {values: [1, 2]}}\n"
                                 f"command: {sys.executable} t.py ${{lr}} ${{k}}\n")
    assert expkit("sweep", "run", "s.yaml", "--gpus", "none", "--max-parallel", "2", cwd=proj).returncode == 0
    r = expkit("sweep", "report", "s", "--json", cwd=proj)
    assert r.returncode == 0, r
    out = r.json()
    assert out["best"]["params"]["lr"] == 0.05 and len(out["trials"]) == 10
    assert any(s.startswith("k barely matters") for s in out["suggestions"])
    assert any("coarse-to-fine" in s and "[0.03, 0.1]" in s for s in out["suggestions"])
    text = expkit("sweep", "report", "s", "--no-plots", cwd=proj).stdout
    assert "next steps:" in text and "*" in text
    missing = expkit("sweep", "report", "nope", cwd=proj)
    assert missing.returncode == 2 and "sweeps here: s" in missing.stderr


def test_estimate_from_past_runs_then_from_a_smoke_run(expkit, tmp_path):
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "t.py").write_text("import sys\nprint('step 1/2'); print('loss=1')\n")
    (proj / "s.yaml").write_text("name: s\nmethod: grid\nparameters: {lr: {values: [1, 2, 3, 4]}}\n"
                                 f"command: {sys.executable} t.py --lr ${{lr}}\n")
    r = expkit("sweep", "estimate", "s.yaml", "--gpus", "none", "--max-parallel", "2", "--json", cwd=proj)
    assert r.returncode == 0, r
    first = r.json()
    assert first["per_trial"]["source"].startswith("smoke run") and first["per_trial"]["seconds"] is not None
    assert first["trials"] == 4 and first["parallel"] == 2 and first["gpu_hours"] == 0.0
    assert first["wall_seconds"] == round(2 * first["per_trial"]["seconds"], 1)
    assert expkit("sweep", "run", "s.yaml", "--gpus", "none", cwd=proj).returncode == 0
    again = expkit("sweep", "estimate", "s.yaml", "--gpus", "none", "--json", cwd=proj).json()
    assert again["per_trial"]["source"].startswith("median of 5 past run(s)")  # 4 trials + the smoke run
    assert again["disk_bytes"] > 0
