"""The seed in the manifest is the seed the script used: passed through its own flag or key, its own default,
a sweep trial's seed parameter, or, when the script takes none, recorded as exported but not applied."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from conftest import git

ARGPARSE = """\
import argparse
ap = argparse.ArgumentParser()
ap.add_argument("--seed", type=int, default=1111)
ap.add_argument("--lr", type=float, default=0.1)
a = ap.parse_args()
print(f"seed={a.seed} loss={a.lr + a.seed / 1e6:.6f}", flush=True)
"""
NO_SEED = "import sys\nprint('no seed here', sys.argv[1:], flush=True)\n"
HYDRA = """\
import hydra
@hydra.main(config_path="conf", config_name="config", version_base=None)
def main(cfg):
    print(f"seed={cfg.seed}", flush=True)
if __name__ == "__main__":
    main()
"""
TYRO = """\
from dataclasses import dataclass
import tyro
@dataclass
class Args:
    seed: int = 3
    lr: float = 0.1
a = tyro.cli(Args)
print(f"seed={a.seed}", flush=True)
"""


def run_once(expkit, repo, *args):
    res = expkit("launch", "--json", *args, cwd=repo)
    assert res.returncode == 0, res
    out = res.json()
    w = expkit("runs", "wait", out["run_id"], "--timeout", "120", cwd=repo)
    m = json.loads((Path(out["run_dir"]) / "manifest.json").read_text())
    return out, m, Path(out["log"]).read_text(), w


def commit(repo, name, text):
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-qm", name)


@pytest.mark.timeout(120)
def test_without_seed_the_scripts_own_default_is_the_recorded_seed_and_reproduce_repeats_it(expkit, git_repo):
    commit(git_repo, "seeded.py", ARGPARSE)
    out, m, log, _ = run_once(expkit, git_repo, "--", sys.executable, "seeded.py", "--lr", "0.2")
    assert "seed=1111" in log
    assert m["seed"]["value"] == 1111 and m["seed"]["source"] == "script default" and m["seed"]["applied"]
    assert m["seed"]["exported"] == 1111  # EXPKIT_SEED agrees with what the script used
    show = expkit("runs", "show", out["run_id"], cwd=git_repo).stdout
    assert "seed      1111 (the script's own default (--seed 1111))" in show
    again = expkit("runs", "reproduce", out["run_id"], "--json", cwd=git_repo)
    assert again.returncode == 0, again
    expkit("runs", "wait", again.json()["run_id"], cwd=git_repo)
    assert "seed=1111" in Path(again.json()["log"]).read_text()


@pytest.mark.timeout(120)
def test_launch_seed_is_passed_through_the_scripts_seed_flag(expkit, git_repo):
    commit(git_repo, "seeded.py", ARGPARSE)
    _, m, log, _ = run_once(expkit, git_repo, "--seed", "5", "--", sys.executable, "seeded.py")
    assert "seed=5" in log
    assert m["command"]["argv"][-2:] == ["--seed", "5"]
    assert m["seed"]["value"] == 5 and m["seed"]["source"] == "explicit" and m["seed"]["flag"] == "--seed"


@pytest.mark.timeout(120)
def test_a_seed_on_the_command_wins_and_a_different_launch_seed_is_reported(expkit, git_repo):
    commit(git_repo, "seeded.py", ARGPARSE)
    out, m, log, _ = run_once(expkit, git_repo, "--seed", "5", "--", sys.executable, "seeded.py", "--seed", "9")
    assert "seed=9" in log and m["seed"]["value"] == 9 and m["seed"]["source"] == "command"
    assert any("sets --seed 9, so --seed 5 was not applied" in w for w in out["warnings"])


@pytest.mark.timeout(120)
def test_a_script_without_a_seed_gets_no_claimed_seed(expkit, git_repo):
    commit(git_repo, "plain.py", NO_SEED)
    out, m, log, _ = run_once(expkit, git_repo, "--seed", "5", "--", sys.executable, "plain.py")
    assert "no seed here []" in log  # the command was not changed
    assert m["seed"]["value"] is None and m["seed"]["applied"] is False and m["seed"]["exported"] == 5
    assert m["seed"]["source"] == "exported only" and "EXPKIT_SEED" in m["seed"]["how"]
    assert any("the script may not use it" in w for w in out["warnings"])
    assert "seed      unknown (exported as EXPKIT_SEED" in expkit("runs", "show", out["run_id"], cwd=git_repo).stdout


@pytest.mark.timeout(180)
@pytest.mark.parametrize("style", ["hydra", "tyro"])
def test_hydra_and_tyro_seeds_are_passed_their_own_way(expkit, git_repo, style):
    if style == "hydra":
        (git_repo / "conf").mkdir()
        (git_repo / "conf" / "config.yaml").write_text("seed: 7\nlr: 0.1\n")
        git(git_repo, "add", "conf")
        commit(git_repo, "app.py", HYDRA)
        want_argv, default = ["seed=13"], 7
    else:
        commit(git_repo, "app.py", TYRO)
        want_argv, default = ["--seed", "13"], 3
    _, m, log, _ = run_once(expkit, git_repo, "--", sys.executable, "app.py")
    assert f"seed={default}" in log and m["seed"]["value"] == default
    _, m, log, _ = run_once(expkit, git_repo, "--seed", "13", "--", sys.executable, "app.py")
    assert "seed=13" in log, log
    assert m["command"]["argv"][-len(want_argv):] == want_argv and m["seed"]["value"] == 13


@pytest.mark.timeout(180)
def test_sweep_trials_and_runs_compare_show_the_trials_own_seed_parameter(expkit, tmp_path):
    (tmp_path / "seeded.py").write_text(ARGPARSE)
    (tmp_path / "sweep.yaml").write_text(
        f"name: seeds\nmethod: grid\nmetric: {{name: loss, goal: minimize}}\n"
        f"parameters:\n  seed: {{values: [1, 2, 3]}}\n  lr: {{value: 0.1}}\n"
        f"command: {sys.executable} seeded.py --seed ${{seed}} --lr ${{lr}}\n")
    r = expkit("sweep", "run", "sweep.yaml", "--gpus", "none", "--max-parallel", "2", "--json", cwd=tmp_path)
    assert r.returncode == 0, r
    manifests = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("seeds-t*/manifest.json")]
    assert sorted(m["seed"]["value"] for m in manifests) == [1, 2, 3]
    assert all(m["seed"]["source"] == "sweep parameter" for m in manifests)
    cmp = expkit("runs", "compare", "--group", "seeds", "--metric", "loss", "--json", cwd=tmp_path)
    assert cmp.returncode == 0, cmp
    assert "seed" in cmp.json()["differing_keys"]
    assert sorted(row["config"]["seed"] for row in cmp.json()["runs"]) == [1, 2, 3]


def test_the_entry_point_is_found_behind_launchers_and_seed_forms_on_the_command_are_read(tmp_path):
    from expkit.runs.seeds import entry_script, seed_on_command

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "train.py").write_text(ARGPARSE)
    (tmp_path / "train.py").write_text(ARGPARSE)
    for argv in (["python", "train.py"], ["torchrun", "--nproc_per_node", "2", "train.py"],
                 ["accelerate", "launch", "--num_processes", "2", "train.py"]):
        assert entry_script(argv, tmp_path) == tmp_path / "train.py", argv
    assert entry_script(["uv", "run", "python", "-m", "pkg.train"], tmp_path) == tmp_path / "pkg" / "train.py"
    assert entry_script(["python", "-c", "print(1)"], tmp_path) is None
    assert seed_on_command(["python", "t.py", "--seed", "4"]) == ("--seed", 4)
    assert seed_on_command(["python", "t.py", "--seed=4"]) == ("--seed", 4)
    assert seed_on_command(["python", "t.py", "seed=4", "lr=0.1"]) == ("seed", 4)
    assert seed_on_command(["python", "t.py", "--seed_everything", "7"]) == ("--seed_everything", 7)
    assert seed_on_command(["python", "t.py", "--lr", "0.1"]) is None
