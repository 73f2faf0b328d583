"""`expkit loop` with real processes, real signals and a real git repository.

The training scripts are tiny and their metric is a deterministic function of EXPKIT_SEED (seeded noise), and every
trial uses the loop's same K seeds: a null change reproduces the best's values exactly, a shift of 0.3 (three times
the noise sd) is always significant. Nothing here depends on timing or luck: budgets are met by scripts that never
end on their own, and the kill -9 test waits on a gate file, not on a clock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import expkit_env, git

SCRIPT = """\
import os, random
seed = int(os.environ["EXPKIT_SEED"])
SHIFT = 0.0
print(f"val_loss: {1.0 + SHIFT + random.Random(seed).gauss(0, 0.1):.6f}")
"""


def _repo(tmp_path: Path, script: str = SCRIPT) -> Path:
    repo = tmp_path / "project"
    repo.mkdir(parents=True)
    (repo / "train.py").write_text(script)
    (repo / "evaluate.py").write_text("def score(x):\n    return x\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


def _head(repo: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()


def _porcelain(repo: Path) -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True).stdout


def _ledger(repo: Path, name: str = "lr") -> list[dict]:
    path = repo / "runs" / ".loops" / name / "loop.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _tsv(repo: Path, name: str = "lr") -> list[list[str]]:
    return [line.split("\t") for line in (repo / "runs" / ".loops" / name / "results.tsv").read_text().splitlines()]


def _init(expkit, repo: Path, *extra: str, script: list[str] | None = None):
    r = expkit("loop", "init", "lr", "--metric", "val_loss", "--goal", "min", "--seeds", "3", "--gpus", "none",
               "--protect", "evaluate.py", *extra, "--json", "--", sys.executable, *(script or ["train.py"]), cwd=repo)
    assert r.returncode == 0, r
    return r.json()


def _mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def _shift(repo: Path, value: str) -> None:
    text = (repo / "train.py").read_text()
    (repo / "train.py").write_text(text.replace("SHIFT = 0.0", f"SHIFT = {value}"))


def test_a_null_change_is_discarded_and_the_tree_is_back_at_the_best_commit(expkit, tmp_path):
    repo = _repo(tmp_path)
    out = _init(expkit, repo)
    base = _head(repo)
    assert out["branch"] == "loop/lr" and out["baseline"]["commit"] == base
    assert len(out["baseline"]["values"]) == 6 and out["noise_floor"] > 0  # K seeds + K reference seeds
    (repo / "train.py").write_text(SCRIPT + "# a comment that changes nothing\n")
    (repo / "notes.txt").write_text("a new untracked file is part of the change\n")
    r = expkit("loop", "try", "lr", "-m", "add a comment", "--json", cwd=repo)
    assert r.returncode == 0, r
    res = r.json()
    values = out["baseline"]["values"]
    assert res["values"] == values[:3]  # the loop's seeds, the same code path: the same numbers
    assert res["decision"] == "discard" and res["p_value"] >= 0.05
    assert res["delta"] == pytest.approx(_mean(values) - _mean(values[:3]), abs=1e-6)
    assert _head(repo) == base and _porcelain(repo) == ""  # back at the best commit, the change gone
    assert not (repo / "notes.txt").exists()
    assert "comment" not in (repo / "train.py").read_text()
    discarded = subprocess.run(["git", "rev-parse", "refs/expkit-loop/lr/t0001"], cwd=repo, capture_output=True,
                               text=True).stdout.strip()
    assert discarded == res["commit"] != base  # the discarded code is still reachable
    assert [row[2] for row in _tsv(repo)] == ["status", "keep", "discard"]
    assert _tsv(repo)[2][0] == res["commit"][:7] and _tsv(repo)[2][3] == "add a comment"


def test_a_real_improvement_is_kept_and_becomes_the_best(expkit, tmp_path):
    repo = _repo(tmp_path)
    out = _init(expkit, repo)
    base = out["baseline"]["values"]
    _shift(repo, "-0.5")
    r = expkit("loop", "try", "lr", "-m", "better init", "--json", cwd=repo)
    assert r.returncode == 0, r
    res = r.json()
    assert res["decision"] == "keep", res
    assert res["delta"] == pytest.approx(_mean(base) - (_mean(base[:3]) - 0.5), abs=1e-6) and res["p_value"] < 0.05
    assert 0 < res["delta_ci95"][0] < res["delta"] < res["delta_ci95"][1]
    # kept: measured again on the K reference seeds, so the new best is known from 2K runs
    assert res["reference_values"] == pytest.approx([v - 0.5 for v in base], abs=1e-6)
    assert len(res["run_ids"]) == 6 and res["best"]["commit"] == res["commit"] == _head(repo)
    assert "SHIFT = -0.5" in (repo / "train.py").read_text()
    st = expkit("loop", "status", "lr", "--json", cwd=repo).json()
    assert st["best"]["commit"] == res["commit"] and st["keeps"] == 1 and st["trials"] == 1
    assert st["best"]["mean"] == pytest.approx(out["baseline"]["mean"] - 0.5)
    assert st["branch_agrees"] and st["noise_floor"]["df"] == 10
    # a gain below --min-delta is not kept, however significant
    repo2 = _repo(tmp_path / "second")
    _init(expkit, repo2, "--min-delta", "0.5")
    _shift(repo2, "-0.3")
    res2 = expkit("loop", "try", "lr", "-m", "better, but not by enough", "--json", cwd=repo2).json()
    assert res2["decision"] == "discard" and "min-delta" in res2["reason"] and res2["p_value"] < 0.05


def test_a_protected_file_edit_is_refused_with_nothing_run(expkit, tmp_path):
    repo = _repo(tmp_path)
    _init(expkit, repo)
    runs_before = sorted(p.name for p in (repo / "runs").iterdir())
    head = _head(repo)
    (repo / "evaluate.py").write_text("def score(x):\n    return 0.0  # always perfect\n")
    _shift(repo, "-0.3")
    r = expkit("loop", "try", "lr", "-m", "tweak the evaluation", "--json", cwd=repo)
    assert r.returncode == 2, r
    assert "protected" in r.stderr and "evaluate.py" in r.stderr and "hint:" in r.stderr
    assert sorted(p.name for p in (repo / "runs").iterdir()) == runs_before  # no run started
    assert _head(repo) == head and len(_ledger(repo)) == 1  # nothing committed, nothing recorded
    assert "always perfect" in (repo / "evaluate.py").read_text()  # the user's edit is left for them to undo


BUDGET_SCRIPT = """\
import os, random, signal, sys, time
seed = int(os.environ["EXPKIT_SEED"])
SHIFT = 0.0
def on_term(signum, frame):
    # the evaluation a budget-stopped run does in its grace period
    print(f"val_loss: {1.0 + SHIFT + random.Random(seed).gauss(0, 0.1):.6f}", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
print("training", flush=True)
while True:
    time.sleep(0.05)
"""


def test_a_trial_over_budget_is_stopped_and_its_printed_metric_used(expkit, tmp_path):
    repo = _repo(tmp_path, BUDGET_SCRIPT)
    out = _init(expkit, repo, "--budget", "1s", "--grace", "20s")
    assert len(out["baseline"]["values"]) == 6
    _shift(repo, "-0.5")
    res = expkit("loop", "try", "lr", "-m", "better", "--json", cwd=repo).json()
    assert res["decision"] == "keep" and res["over_time"] == 6  # its K seeds and K reference seeds
    base = out["baseline"]["values"]
    assert res["delta"] == pytest.approx(_mean(base) - (_mean(base[:3]) - 0.5), abs=1e-6)
    for run_id in res["run_ids"]:
        st = json.loads((repo / "runs" / run_id / "status.json").read_text())
        assert st["state"] == "stopped" and "stopped by request" in st["reason"]
        assert (repo / "runs" / run_id / "stop.json").exists()


def test_a_trial_that_ignores_sigterm_is_killed_after_the_grace_and_recorded_as_crash(expkit, tmp_path):
    repo = _repo(tmp_path, BUDGET_SCRIPT)
    _init(expkit, repo, "--budget", "1s", "--grace", "20s")
    best = _head(repo)
    text = (repo / "train.py").read_text().replace("signal.signal(signal.SIGTERM, on_term)",
                                                   "signal.signal(signal.SIGTERM, signal.SIG_IGN)")
    (repo / "train.py").write_text(text)
    git(repo, "config", "user.name", "t")
    git(repo, "config", "user.email", "t@example.com")
    cfg_path = repo / "runs" / ".loops" / "lr" / "loop.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["grace_s"] = 1.0  # a short grace so the SIGKILL comes quickly (the state file is the loop's own)
    cfg_path.write_text(json.dumps(cfg))
    r = expkit("loop", "try", "lr", "-m", "ignores SIGTERM", "--json", cwd=repo)
    assert r.returncode == 1, r
    res = r.json()
    assert res["decision"] == "crash" and res["crash"]["family"] == "budget_exceeded"
    st = json.loads((repo / "runs" / res["run_ids"][0] / "status.json").read_text())
    assert st["signal_name"] == "SIGKILL"
    assert _head(repo) == best and _porcelain(repo) == ""


def test_a_crash_is_recorded_with_its_diagnosis_and_reset(expkit, tmp_path):
    repo = _repo(tmp_path)
    _init(expkit, repo)
    best = _head(repo)
    (repo / "train.py").write_text("import flash_attn_missing_module\n" + SCRIPT)
    r = expkit("loop", "try", "lr", "-m", "use flash attention", "--json", cwd=repo)
    assert r.returncode == 1, r
    res = r.json()
    assert res["decision"] == "crash" and res["crash"]["family"] == "import_error"
    assert "flash_attn_missing_module" in res["crash"]["summary"]
    assert _head(repo) == best and _porcelain(repo) == ""
    row = _tsv(repo)[-1]
    assert row[1:] == ["0.000000", "crash", "use flash attention"]
    entry = _ledger(repo)[-1]
    assert entry["status"] == "crash" and entry["crash"]["seeds_crashed"] == 3
    st = expkit("loop", "status", "lr", "--json", cwd=repo).json()
    assert st["crashes"] == 1 and st["best"]["commit"] == best


GATED = """\
import os, random, time
seed = int(os.environ["EXPKIT_SEED"])
gate = os.environ.get("GATE")
print("started", flush=True)
while gate and not os.path.exists(gate):
    time.sleep(0.02)
print(f"val_loss: {1.0 + random.Random(seed).gauss(0, 0.1):.6f}")
"""


@pytest.mark.timeout(200)
def test_kill9_of_try_mid_trial_then_resume_counts_the_trial_once(expkit, tmp_path):
    repo = _repo(tmp_path, GATED)
    base = _init(expkit, repo)["baseline"]
    (repo / "train.py").write_text(GATED + "# a null change\n")
    gate = tmp_path / "gate"
    proc = subprocess.Popen([sys.executable, "-m", "expkit", "loop", "try", "lr", "-m", "null", "--json"], cwd=repo,
                            env=expkit_env({"GATE": str(gate)}), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    runs = repo / "runs"
    deadline = time.monotonic() + 60
    while True:  # wait for all three seeds to be running (a state, not a time)
        logs = [p / "stdout.log" for p in runs.glob("loop-lr-t0001-s*")]
        if len(logs) == 3 and all(p.exists() and "started" in p.read_text() for p in logs):
            break
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    pending = runs / ".loops" / "lr" / "pending.json"
    assert pending.exists() and len(_ledger(repo)) == 1
    st = expkit("loop", "status", "lr", "--json", cwd=repo).json()
    assert st["in_progress"]["trial"] == 1
    r = expkit("loop", "try", "lr", "-m", "another", cwd=repo)
    assert r.returncode == 2 and "loop resume lr" in r.stderr  # no second trial on top of an unfinished one
    gate.write_text("go")
    r = expkit("loop", "resume", "lr", "--json", cwd=repo, env={"GATE": str(gate)})
    assert r.returncode == 0, r
    res = r.json()
    assert res["resumed"] == 1 and res["decision"] == "discard" and res["values"] == base["values"][:3]
    ledger = _ledger(repo)
    assert [e["trial"] for e in ledger] == [0, 1]  # counted once
    assert len(list(runs.glob("loop-lr-t0001-s*"))) == 3  # the seeds were adopted, not run again
    assert sorted(ledger[1]["run_ids"]) == sorted(p.name for p in runs.glob("loop-lr-t0001-s*"))
    assert [row[2] for row in _tsv(repo)] == ["status", "keep", "discard"]
    assert _head(repo) == base["commit"] and _porcelain(repo) == "" and not pending.exists()
    again = expkit("loop", "resume", "lr", "--json", cwd=repo).json()
    assert again["resumed"] is None and again["trials"] == 1 and again["branch_agrees"]


def test_bad_input_gets_an_error_and_a_hint(expkit, tmp_path):
    repo = _repo(tmp_path)
    (repo / "train.py").write_text(SCRIPT + "# uncommitted\n")
    r = expkit("loop", "init", "lr", "--metric", "val_loss", "--goal", "min", "--", sys.executable, "train.py",
               cwd=repo)
    assert r.returncode == 2 and "uncommitted" in r.stderr and "hint:" in r.stderr
    assert "loop/lr" not in subprocess.run(["git", "branch"], cwd=repo, capture_output=True, text=True).stdout
    git(repo, "checkout", "train.py")
    for args, words in ((["--seeds", "1"], "at least 2"), (["--budget", "soon"], "not a duration"),
                        (["--protect", "nope.py"], "does not exist")):
        r = expkit("loop", "init", "lr", "--metric", "val_loss", "--goal", "min", *args, "--", sys.executable,
                   "train.py", cwd=repo)
        assert r.returncode == 2 and words in r.stderr and "hint:" in r.stderr, r
    r = expkit("loop", "init", "lr", "--metric", "val_loss", "--goal", "min", "--gpus", "none", "--", sys.executable,
               "-c", "raise SystemExit('no data')", cwd=repo)
    assert r.returncode == 1 and "the baseline crashed" in r.stderr and "expkit runs logs" in r.stderr, r
    assert not (repo / "runs" / ".loops" / "lr").exists()  # no half loop left behind: init can run again
    assert "loop/lr" not in subprocess.run(["git", "branch"], cwd=repo, capture_output=True, text=True).stdout
    assert subprocess.run(["git", "symbolic-ref", "--short", "HEAD"], cwd=repo, capture_output=True,
                          text=True).stdout.strip() == "main"
    r = expkit("loop", "try", "nosuch", "-m", "x", cwd=repo)
    assert r.returncode == 2 and "no loop named 'nosuch'" in r.stderr
    _init(expkit, repo)
    r = expkit("loop", "try", "lr", "-m", "nothing changed", cwd=repo)
    assert r.returncode == 2 and "nothing to try" in r.stderr


# the statistics, against scipy where it is installed, else against printed tables ---------------------------------
def test_t_distribution_matches_scipy_and_the_tables():
    from expkit.loop import stats

    assert stats.t_ppf(0.975, 4) == pytest.approx(2.776, abs=5e-4)  # Student's t table
    assert stats.t_ppf(0.95, 4) == pytest.approx(2.132, abs=5e-4)
    assert stats.t_ppf(0.95, 30) == pytest.approx(1.697, abs=5e-4)
    scipy_stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3.5, 4, 10, 57, 1000):
        for t in (-4.0, -1.0, -1e-4, 0.0, 0.3, 1.7, 2.5, 9.0):
            assert stats.t_sf(t, df) == pytest.approx(scipy_stats.t.sf(t, df), abs=1e-12)
        for q in (0.025, 0.05, 0.5, 0.95, 0.975):
            assert stats.t_ppf(q, df) == pytest.approx(scipy_stats.t.ppf(q, df), abs=1e-8)


def test_the_decision_is_scipys_t_test_with_the_pooled_variance():
    from expkit.loop import stats

    scipy_stats = pytest.importorskip("scipy.stats")
    best, trial = [1.0, 1.2, 0.9], [0.8, 0.95, 0.85]
    d = stats.decide(best, trial, "min")
    ref = scipy_stats.ttest_ind(trial, best, equal_var=True, alternative="less")
    assert d.p_value == pytest.approx(ref.pvalue, rel=1e-9) and d.df == 4
    assert d.keep == (ref.pvalue < 0.05)
    up = stats.decide([0.5, 0.6, 0.55], [0.7, 0.72, 0.69], "max", noise_groups=[[0.1, 0.2, 0.15]])
    assert up.keep and up.delta == pytest.approx(0.46 / 3, abs=1e-9) and up.df == 6


def test_report_writes_findings_with_plot_and_a_fresh_seed_confirmation(expkit, tmp_path):
    repo = _repo(tmp_path)
    _init(expkit, repo)
    _shift(repo, "-0.5")
    kept = expkit("loop", "try", "lr", "-m", "better init", "--json", cwd=repo).json()
    (repo / "train.py").write_text("import missing_module_for_the_report\n")
    assert expkit("loop", "try", "lr", "-m", "broken", "--json", cwd=repo).returncode == 1
    r = expkit("loop", "report", "lr", "--confirm", "3", "--json", cwd=repo)
    assert r.returncode == 0, r
    out = r.json()
    page = Path(out["findings"]).read_text()
    png = Path(out["plot"]).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    conf = out["confirmation"]
    used = set(_ledger(repo)[0]["seeds"])
    assert conf["ok"] and conf["confirmed"] and not used & set(conf["seeds"])  # seeds never used in the loop
    assert conf["decision"]["delta"] == pytest.approx(0.5, abs=1e-6)  # the same fresh seeds for both
    assert "**confirmed**" in page and "![progress](progress.png)" in page
    assert f"`{kept['commit'][:7]}` | better init" in page and "import_error" in page
    assert _head(repo) == kept["commit"] and _porcelain(repo) == ""  # the branch is back where it was
    assert subprocess.run(["git", "symbolic-ref", "--short", "HEAD"], cwd=repo, capture_output=True,
                          text=True).stdout.strip() == "loop/lr"


def test_loop_help_imports_nothing_heavy_and_lists_the_verbs(expkit):
    code = ("import sys, io, contextlib\n"
            "from expkit.cli import main\n"
            "for args in (['--help'], ['loop', '--help'], ['loop', 'try', '--help'], ['loop', 'report', '--help']):\n"
            "    try:\n"
            "        with contextlib.redirect_stdout(io.StringIO()):\n"
            "            main(args)\n"
            "    except SystemExit:\n"
            "        pass\n"
            "print([m for m in ('matplotlib', 'numpy', 'yaml', 'wandb', 'libcst', 'jinja2', 'expkit.loop.api')"
            " if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", code], env=expkit_env(), capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out
    text = expkit("loop", "--help").stdout
    assert all(verb in text for verb in ("init", "try", "status", "resume", "report"))
    assert "loop" in expkit("--help").stdout


JSONL_SCRIPT = """\
import json, os, random
seed = int(os.environ["EXPKIT_SEED"])
SHIFT = 0.0
with open(os.path.join(os.environ["EXPKIT_RUN_DIR"], "metrics.jsonl"), "a") as fh:
    for step, scale in enumerate((3.0, 2.0, 1.0)):  # the last value is the run's result
        fh.write(json.dumps({"step": step, "val_acc": scale * (0.5 + SHIFT + random.Random(seed).gauss(0, 0.01))}) + "\\n")
print("val_acc: 123.0  (a line that --metric-regex must not read)")
print(f"final accuracy {0.5 + SHIFT + random.Random(seed).gauss(0, 0.01):.6f}")
"""


def test_the_metric_is_read_from_metrics_jsonl_or_with_metric_regex_and_max_goals_work(expkit, tmp_path):
    repo = _repo(tmp_path, JSONL_SCRIPT)
    r = expkit("loop", "init", "acc", "--metric", "val_acc", "--goal", "max", "--gpus", "none", "--json", "--",
               sys.executable, "train.py", cwd=repo)
    assert r.returncode == 0, r
    base = r.json()["baseline"]
    assert 0.45 < base["mean"] < 0.55  # the final metrics.jsonl row, not the printed 123.0
    _shift(repo, "0.05")
    res = expkit("loop", "try", "acc", "-m", "better", "--json", cwd=repo).json()
    assert res["decision"] == "keep" and res["delta"] > 0.04
    repo2 = _repo(tmp_path / "regex", JSONL_SCRIPT)
    r = expkit("loop", "init", "acc", "--metric", "accuracy", "--goal", "max", "--gpus", "none",
               "--metric-regex", r"final accuracy ([0-9.]+)", "--json", "--", sys.executable, "train.py", cwd=repo2)
    assert r.returncode == 0, r
    assert r.json()["baseline"]["values"] == pytest.approx(base["values"], abs=1e-6)
    bad = expkit("loop", "init", "x", "--metric", "m", "--goal", "max", "--metric-regex", "([", "--", "true",
                 cwd=repo2)
    assert bad.returncode == 2 and "not a valid regular expression" in bad.stderr


WANDB_SCRIPT = """\
import os, random
import wandb
seed = int(os.environ["EXPKIT_SEED"])
SHIFT = 0.0
run = wandb.init(project="loop-test", mode="offline")
for step in range(3):
    run.log({"val_loss": 2.0 - step * 0.5 + SHIFT + random.Random(seed).gauss(0, 0.1)})
run.finish()
"""


@pytest.mark.timeout(240)
def test_the_metric_is_read_from_each_seeds_own_offline_wandb_run(expkit, tmp_path):
    """Parallel seeds write their W&B runs side by side in ./wandb: each seed's value must come from its own."""
    pytest.importorskip("wandb")
    repo = _repo(tmp_path, WANDB_SCRIPT)
    (repo / ".gitignore").write_text("wandb/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore wandb")
    expected = [0.0 + __import__("random").Random(s).gauss(0, 0.1) + 1.0 for s in range(4)]  # final step: 1.0
    r = expkit("loop", "init", "wb", "--metric", "val_loss", "--goal", "min", "--seeds", "2", "--gpus", "none",
               "--json", "--", sys.executable, "train.py", cwd=repo, timeout=200)
    assert r.returncode == 0, r
    base = r.json()["baseline"]
    assert base["values"] == pytest.approx(expected, abs=1e-9)  # seed by seed, none mixed up
    assert len(list((repo / "wandb").glob("offline-run-*"))) == 4
    _shift(repo, "-0.5")
    res = expkit("loop", "try", "wb", "-m", "better", "--json", cwd=repo, timeout=200).json()
    assert res["decision"] == "keep" and res["values"] == pytest.approx([v - 0.5 for v in expected[:2]], abs=1e-9)
    assert all(e["sources"] == ["wandb"] for e in _ledger(repo, "wb"))


def test_seeds_run_on_free_gpus_through_the_queues_leases(expkit, tmp_path):
    """Simulated GPUs at the NVML boundary only (tests/fakes/pynvml, as in test_queue_gpus.py): no NVIDIA GPU can
    exist here. GPU 1 is busy with someone else's process: the loop's seeds must run on GPUs 0 and 2 only."""
    from test_queue_gpus import nvml_env

    script = SCRIPT + "print('gpu', os.environ.get('CUDA_VISIBLE_DEVICES'))\n"
    repo = _repo(tmp_path, script)
    foreign = subprocess.Popen(["sleep", "300"])
    try:
        env = nvml_env(tmp_path, foreign.pid)
        r = expkit("loop", "init", "g", "--metric", "val_loss", "--goal", "min", "--gpus", "auto", "--json", "--",
                   sys.executable, "train.py", cwd=repo, env=env)
        assert r.returncode == 0, r
    finally:
        foreign.kill()
        foreign.wait()
    run_ids = r.json()["baseline"]["run_ids"]
    gpus = [(repo / "runs" / rid / "stdout.log").read_text().split("gpu ")[1].strip() for rid in run_ids]
    assert len(run_ids) == 6 and set(gpus) <= {"0", "2"} and len(set(gpus)) == 2


def test_a_keep_that_crashes_on_the_reference_seeds_is_a_crash(expkit, tmp_path):
    repo = _repo(tmp_path, SCRIPT + "if SHIFT < 0 and seed >= 3:\n    raise ValueError('diverged on this seed')\n")
    _init(expkit, repo)
    best = _head(repo)
    _shift(repo, "-0.5")
    r = expkit("loop", "try", "lr", "-m", "better on seeds 0-2 only", "--json", cwd=repo)
    assert r.returncode == 1, r
    res = r.json()
    assert res["decision"] == "crash" and "reference seed 3" in res["crash"]["summary"]
    assert "diverged on this seed" in res["crash"]["summary"] and len(res["run_ids"]) == 6
    assert _head(repo) == best and _porcelain(repo) == "" and _tsv(repo)[-1][2] == "crash"
    assert "warnings" not in res


def test_outputs_written_into_the_repository_are_flagged(expkit, tmp_path):
    repo = _repo(tmp_path, SCRIPT + "open('checkpoint.pt', 'w').write('weights')\n")
    out = _init(expkit, repo)
    assert "checkpoint.pt" in out["warnings"][0] and ".gitignore" in out["warnings"][0]
    (repo / ".gitignore").write_text("checkpoint.pt\n")
    _shift(repo, "-0.5")
    res = expkit("loop", "try", "lr", "-m", "better, outputs ignored", "--json", cwd=repo).json()
    assert res["decision"] == "keep" and "warnings" not in res and _porcelain(repo) == ""


COARSE = """\
import os, random
seed = int(os.environ["EXPKIT_SEED"])
print(f"| end of epoch 1 | valid loss {2.93 + random.Random(seed).gauss(0, 0.001):5.2f} |")
"""


def test_a_baseline_with_no_seed_to_seed_spread_is_flagged(expkit, tmp_path):
    """word_language_model prints `valid loss  2.93`: at 2 decimals every seed gave the same value, seed sd 0,
    and init said nothing, so any later change that moved the metric would look significant."""
    repo = _repo(tmp_path, COARSE)
    out = _init(expkit, repo, "--metric-regex", r"valid loss\s+([0-9.]+)")
    assert out["noise_floor"] == 0 and set(out["baseline"]["values"]) == {2.93}
    assert any("seed sd 0" in w and "too coarsely" in w for w in out["warnings"]), out
    noisy = _init(expkit, _repo(tmp_path / "b"))
    assert "warnings" not in noisy


def test_a_baseline_whose_script_ignores_the_seed_is_flagged_with_the_fix(expkit, tmp_path):
    """nanoGPT seeds torch with a fixed 1337 and takes no seed flag: every loop seed gave val loss 2.7380."""
    repo = _repo(tmp_path, "SEED = 1337\nprint(f'val_loss: {2.738:.4f}')\n")
    out = _init(expkit, repo)
    assert out["noise_floor"] == 0
    (warning,) = out["warnings"]
    assert "the seed never reaches the script" in warning and "EXPKIT_SEED" in warning and "new name" in warning


def test_report_with_nothing_kept_skips_the_confirmation(expkit, tmp_path):
    """word_language_model: two trials discarded, `loop report --confirm 2` ran the baseline commit against itself
    (four runs) and called it "not confirmed". With nothing kept it now runs nothing and says so."""
    repo = _repo(tmp_path)
    _init(expkit, repo)
    _shift(repo, "0.5")
    assert expkit("loop", "try", "lr", "-m", "worse", "--json", cwd=repo).json()["decision"] == "discard"
    runs_before = len(list((repo / "runs").glob("loop-lr-*")))
    out = expkit("loop", "report", "lr", "--confirm", "3", "--json", cwd=repo).json()
    assert out["confirmation"]["skipped"] and not out["confirmation"]["ok"]
    assert len(list((repo / "runs").glob("loop-lr-*"))) == runs_before
    assert "Skipped: no change was kept" in Path(out["findings"]).read_text()


def test_a_p_value_that_underflows_reads_as_bounded_not_zero():
    from expkit.loop.stats import format_p

    assert format_p(0.0) == "< 1e-16" and format_p(0.0312) == "0.0312" and format_p(None) == "-"
