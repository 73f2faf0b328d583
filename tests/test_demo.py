"""`expkit demo`, the README's first command: the whole product on tiny real projects, end to end."""

from __future__ import annotations

import re

import pytest


@pytest.mark.slow
def test_demo_shows_every_part_and_succeeds(expkit, tmp_path):
    res = expkit("demo", "--dir", tmp_path, timeout=600)
    out = res.stdout
    assert res.returncode == 0, res
    # a real detached run, followed to its end, with its manifest and final metric
    assert re.search(r"launched train_\d{8}-\d{6} \(pid \d+\)", out)
    assert "state      succeeded (exit code 0)" in out and "dirty=False" in out
    assert re.search(r"final metric: val_acc=0\.\d{4} at step 8000", out)
    # the failing run is explained, not just reported
    assert "FileNotFoundError" in out and "fix:" in out
    # W&B: injected, recorded offline, reverted to the same bytes (wandb is in the test environment)
    assert "byte-identical to the original: True" in out
    # the research plan ends completed with a verdict and its findings
    assert "Recommendation: pivot" in out and (tmp_path / "research-demo" / "research" / "FINDINGS.md").exists()
    # the sweep ran and reported
    assert "sweep" in out.lower() and "best" in out.lower()
    assert "$ expkit backends" in out


def test_demo_only_one_part(expkit, tmp_path):
    res = expkit("demo", "--dir", tmp_path, "--only", "run", timeout=300)
    assert res.returncode == 0, res
    assert "succeeded" in res.stdout and "research plan" not in res.stdout
    bad = expkit("demo", "--only", "nope")
    assert bad.returncode == 2 and "error:" in bad.stderr
