"""The /run-experiment walk-through (tests/walkthrough/CHECKLIST.md) as a test: walk_run_experiment.py follows the
skill on a small real project (a git repository, a README, an argparse script that saves to a fixed model.pt),
and one regression test per friction point the walk-throughs on public projects found."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import expkit_env, git, run_expkit_cmd

ROOT = Path(__file__).resolve().parents[2]
SKILL = ROOT / "skills" / "run-experiment" / "SKILL.md"
_spec = importlib.util.spec_from_file_location("walk_run_experiment", Path(__file__).parent / "walk_run_experiment.py")
walker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(walker)

TRAIN = '''
import argparse, os, random
p = argparse.ArgumentParser()
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--save", type=str, default="model.pt", help="path to save the final model")
args = p.parse_args()
random.seed(int(os.environ.get("EXPKIT_SEED", "0")))
loss = 3.0
for epoch in range(1, args.epochs + 1):
    for batch in range(10, 31, 10):
        loss *= 0.9
        print(f"| epoch {epoch:3d} | {batch:5d}/{30:5d} batches | ms/batch {12.5:5.2f} | loss {loss:5.2f}", flush=True)
    print(f"| end of epoch {epoch:3d} | valid loss {loss + 0.1:5.2f}", flush=True)
with open(args.save, "w") as f:
    f.write("weights")
'''


@pytest.fixture
def project(tmp_path):
    repo = tmp_path / "lm"
    repo.mkdir()
    (repo / "main.py").write_text(textwrap.dedent(TRAIN))
    (repo / "README.md").write_text("# Tiny LM\n\n```bash\npython main.py --epochs 2\n```\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "tiny lm")
    return repo


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_walkthrough_checklist_passes_on_a_small_project(project):
    """A new venv (the recommended answer), no torch needed, no W&B: every checklist item holds."""
    w = walker.walk(project, [sys.executable, "-m", "expkit"], env=expkit_env())
    failed = [(item, detail) for ok, item, detail in w.items if not ok]
    assert not failed, failed
    items = {item for _, item, _ in w.items}
    assert "Launch: a fixed output path inside the repository is flagged with its fix" in items
    assert len(w.items) >= 12


def test_doctor_gives_branch_and_commit_for_the_confirmation_table(project):
    out = run_expkit_cmd("doctor", "--json", cwd=project).json()
    assert out["git"]["branch"] == "main" and len(out["git"]["commit"]) == 40 and out["git"]["dirty"] is False
    assert "doctor's `git`" in SKILL.read_text()


def test_python_is_known_in_phase_1(project):
    rec = run_expkit_cmd("env", "detect", project, "--json", env={"VIRTUAL_ENV": "", "CONDA_PREFIX": ""}).json()
    assert rec["recommendation"]["python"] == str(project.resolve() / ".venv" / "bin" / "python")
    assert "recommendation.python" in SKILL.read_text()


def test_skill_offers_i_dont_know_as_an_option_and_a_recommended_wandb_answer():
    text = SKILL.read_text()
    assert 'make the last option of each question "I don\'t know → use the recommended one"' in text
    assert "`<repo folder name>` (recommended)" in text
    assert "Already integrated (recommended)" in text


def test_skill_shows_the_edit_list_first_and_the_diff_on_request():
    text = SKILL.read_text()
    assert "the `edits` as a short list" in text and "show the `diff`" in text and "when they ask for it" in text


def test_offer_to_commit_uses_tools_the_skill_allows():
    text = SKILL.read_text()
    front = text.split("---", 2)[1]
    assert "Bash(git add *)" in front and "Bash(git commit *)" in front
    assert "`git add <script>`" in text and "`git commit -m" in text


def test_runs_wait_json_on_timeout_is_one_object_and_its_hint_does_not_flood(project):
    (project / "sleep.py").write_text("import time\ntime.sleep(30)\n")
    r = run_expkit_cmd("launch", "--json", "--", sys.executable, "sleep.py", cwd=project)
    run_id = r.json()["run_id"]
    try:
        w = run_expkit_cmd("runs", "wait", run_id, "--timeout", "0.5", "--json", cwd=project)
        assert w.returncode == 124
        out = json.loads(w.stdout)
        assert out == {"run_id": run_id, "state": "running", "timed_out": True, "timeout_s": 0.5,
                       "wait_exit_code": 124}
        assert "--follow" not in w.stderr and f"expkit runs watch {run_id} --once" in w.stderr
    finally:
        run_expkit_cmd("runs", "stop", run_id, cwd=project)


def test_fixed_output_path_gets_a_note_and_run_dir_keeps_each_runs_file(project):
    r = run_expkit_cmd("launch", "--json", "--", sys.executable, "main.py", "--epochs", "1", cwd=project)
    warnings = r.json()["warnings"]
    assert any(w.startswith("--save model.pt (its default in main.py) writes inside the repository") and
               "--save '$EXPKIT_RUN_DIR/model.pt'" in w for w in warnings), warnings
    given = run_expkit_cmd("launch", "--json", "--", sys.executable, "main.py", "--save", "out.pt", cwd=project)
    assert any(w.startswith("--save out.pt (given)") for w in given.json()["warnings"])
    fixed = run_expkit_cmd("launch", "--json", "--", sys.executable, "main.py", "--epochs", "1", "--save",
                           "$EXPKIT_RUN_DIR/model.pt", cwd=project)
    assert not [w for w in fixed.json()["warnings"] if "EXPKIT_RUN_DIR" in w]
    run_id = fixed.json()["run_id"]
    done = run_expkit_cmd("runs", "wait", run_id, "--timeout", "60", "--json", cwd=project)
    assert done.returncode == 0, done
    run_dir = Path(fixed.json()["run_dir"])
    assert (run_dir / "model.pt").read_text() == "weights"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert "$EXPKIT_RUN_DIR/model.pt" in manifest["command"]["argv"]  # a reproduction gets its own folder
    assert "'$EXPKIT_RUN_DIR/…'" in SKILL.read_text()


def test_skill_says_what_to_do_when_a_torch_project_has_no_torch():
    assert re.search(r"It does use torch: install it\s+\(`expkit env install --env <env> --with torch --json`",
                     SKILL.read_text())


def test_sweep_dry_run_warns_when_every_trial_writes_the_same_file(project):
    """Found walking the planner on word_language_model: a sweep over `--save model.pt` overwrites one file."""
    (project / "sweep.yaml").write_text("name: s\nmethod: grid\nparameters:\n  epochs: {values: [1, 2]}\n"
                                        f"command: {sys.executable} main.py --epochs ${{epochs}} --save model.pt\n")
    out = run_expkit_cmd("sweep", "run", "sweep.yaml", "--dry-run", "--json", cwd=project).json()
    assert [w for w in out["warnings"] if w.startswith("every trial: --save model.pt (given)")]
    (project / "sweep.yaml").write_text((project / "sweep.yaml").read_text().replace(
        "--save model.pt", "--save $EXPKIT_RUN_DIR/model.pt"))
    out = run_expkit_cmd("sweep", "run", "sweep.yaml", "--dry-run", "--json", cwd=project).json()
    assert out["warnings"] == [] and "$EXPKIT_RUN_DIR/model.pt" in out["trials"][0]["command"]
    assert "act on its `warnings`" in (ROOT / "agents" / "ml-experiment-planner.md").read_text()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_reference_pattern_wraps_an_existing_script_in_a_plan(project):
    """Found walking ml-experiment-runner on word_language_model: no pattern said how a handler runs the project's
    own script. The reference's snippet, as written, runs it for real and its metric is judged."""
    text = (ROOT / "references" / "handler-patterns.md").read_text()
    section = text.split("## Wrapping an existing training script", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    # the project's script takes --seed like most do
    (project / "main.py").write_text((project / "main.py").read_text().replace(
        'p.add_argument("--epochs"', 'p.add_argument("--seed", type=int, default=0)\np.add_argument("--epochs"'))
    r = run_expkit_cmd("plan", "new", "c1-wrap", "--sub", "e1_1", "--json", cwd=project)
    assert r.returncode == 0, r
    plan = project / "research" / "research_plan.yaml"
    plan.write_text(plan.read_text().replace(
        'loss: {target: 0.1, acceptable: 0.2, failure: 0.5, direction: lower, note: "TODO: your metric"}',
        'valid_loss: {target: 2.5, acceptable: 2.8, failure: 3.5, direction: lower}'))
    (project / "handlers" / "c1" / "__init__.py").write_text(snippet + "\n\ndef get_handlers():\n"
                                                             "    return {'e1_1': e1_1}\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "plan")
    run = run_expkit_cmd("plan", "run", "c1-wrap", "--json", cwd=project, timeout=240)
    assert run.returncode == 0, run
    results = (project / "research" / "experiments" / "c1-wrap" / "results.yaml").read_text()
    assert "valid_loss" in results and "e1_1: 1.69" in results  # 3.0 * 0.9**6 + 0.1 after 2 epochs
    assert not (project / "model.pt").exists()  # the output went to the artifacts folder


def test_run_dir_variable_survives_the_slurm_script_and_modal():
    """The fix launch suggests (`--save '$EXPKIT_RUN_DIR/model.pt'`) must mean the run's folder on every backend:
    the Slurm script leaves the variable to the job's shell (which exports it); Modal's runner replaces it."""
    import subprocess

    from expkit.backends.slurm import shell_join

    line = shell_join(["python", "main.py", "--save", "$EXPKIT_RUN_DIR/model.pt", "--note", "it's ${EXPKIT_RUN_DIR}"])
    out = subprocess.run(["bash", "-c", f"printf '%s\\n' {line.split(' ', 2)[2]}"], capture_output=True, text=True,
                         env={"EXPKIT_RUN_DIR": "/runs/r1", "PATH": "/usr/bin:/bin"}).stdout.splitlines()
    assert out == ["--save", "/runs/r1/model.pt", "--note", "it's /runs/r1"]
    assert shell_join(["echo", "$HOME"]) == "echo '$HOME'"  # any other variable stays literal, as before
    source = (ROOT / "helpers" / "expkit" / "backends" / "modal_remote.py").read_text()
    assert '.replace("$EXPKIT_RUN_DIR", str(run_dir))' in source


RUNNER = ROOT / "skills" / "ml-experiment-runner" / "SKILL.md"
AUTORESEARCH = ROOT / "skills" / "autoresearch" / "SKILL.md"


def test_runner_skill_says_to_rename_the_scaffolded_test_metric(tmp_path):
    """word_language_model: after the criteria named valid_loss, `python handlers/c1/test_handlers.py` failed on a
    bare `assert "loss" in metrics`; the skill now says the scaffolded test checks `loss` and to rename it."""
    git(tmp_path, "init", "-q", "-b", "main")
    run_expkit_cmd("plan", "new", "c1-gru-vs-lstm", "--sub", "e1_1", cwd=tmp_path)
    assert 'assert "loss" in metrics' in (tmp_path / "handlers" / "c1" / "test_handlers.py").read_text()
    assert "It checks the metric `plan new` scaffolded (`loss`): rename it" in RUNNER.read_text()


def test_runner_skill_asks_the_user_to_commit_the_plan_and_handlers():
    """word_language_model: `plan run` warned about 9 untracked files (the new plan and handlers); the skill allows
    only expkit, so it must ask the user to commit them."""
    text = RUNNER.read_text()
    assert "Uncommitted plan or handlers" in text and "ask the\nuser to commit them" in text
    assert "Bash(git commit" not in text


def test_autoresearch_skill_says_who_commits_and_reads_init_warnings():
    """The skill forbids committing but `loop init` refuses a dirty tree: the user commits. A baseline with seed sd
    0 (word_language_model prints 2 decimals) comes with a warning the skill now tells the agent to act on."""
    text = AUTORESEARCH.read_text()
    assert "ask the user to commit them" in text and "Bash(git commit" not in text
    assert "`warnings` (seed sd 0" in text


def test_plan_new_lists_every_sub_experiment_in_the_experiment_page(tmp_path):
    """`plan new c1-gru-vs-lstm --sub e1_1,e1_2` on word_language_model wrote a page naming only e1_1."""
    git(tmp_path, "init", "-q", "-b", "main")
    run_expkit_cmd("plan", "new", "c1-gru-vs-lstm", "--sub", "e1_1,e1_2", cwd=tmp_path)
    page = (tmp_path / "research" / "experiments" / "c1-gru-vs-lstm.md").read_text()
    assert "- **e1_1** - TODO" in page and "- **e1_2** - TODO" in page


def test_sweep_dry_run_flags_a_configurator_out_dir_set_in_the_config_file(tmp_path):
    """nanoGPT: `train.py config/train_shakespeare_char.py` writes ckpt.pt into the config file's
    out_dir = 'out-shakespeare-char' on every trial; the dry run said nothing. It now names the file and the fix."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "train_char.py").write_text("out_dir = 'out-char'\ndropout = 0.2\n")
    (tmp_path / "configurator.py").write_text("import sys\n")
    (tmp_path / "train.py").write_text("out_dir = 'out'\ndropout = 0.0\nexec(open('configurator.py').read())\n"
                                       "print('val loss 1.0')\n")
    (tmp_path / "spec.yaml").write_text(
        "name: d\nmethod: grid\nmetric: {name: val_loss, goal: minimize}\n"
        "parameters:\n  dropout: {values: [0.0, 0.2]}\n"
        f"command: {sys.executable} train.py config/train_char.py\nargs: flags\n")
    git(tmp_path, "init", "-q", "-b", "main")
    out = run_expkit_cmd("sweep", "run", "spec.yaml", "--dry-run", "--json", cwd=tmp_path).json()
    (warning,) = [w for w in out["warnings"] if "--out_dir" in w]
    assert "out-char (set in config/train_char.py)" in warning and "'--out_dir=$EXPKIT_RUN_DIR/out-char'" in warning


@pytest.mark.timeout(180)
def test_reproduce_keeps_the_projects_venv_and_names_ignored_data(tmp_path):
    """nanoGPT launched as `.venv/bin/python train.py ...`: the reproduction's worktree (a checkout of the commit)
    has no .venv, so it failed with `command not found: .venv/bin/python`; and its gitignored data/*.bin were
    missing with no word from the dry run. The interpreter is now the original one, and the dry run names data/."""
    import subprocess as sp

    repo = tmp_path / "gpt"
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "train.bin").write_bytes(b"\0" * 64)
    (repo / ".gitignore").write_text(".venv/\ndata/\nruns/\n")
    (repo / "train.py").write_text("print('step 20: train loss 2.7398, val loss 2.7380')\n")
    sp.run([sys.executable, "-m", "venv", "--without-pip", str(repo / ".venv")], check=True, timeout=120)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "gpt")
    first = run_expkit_cmd("launch", "--json", "--", ".venv/bin/python", "train.py", cwd=repo).json()["run_id"]
    assert run_expkit_cmd("runs", "wait", first, "--timeout", "60", "--json", cwd=repo).json()["state"] == "succeeded"
    plan = run_expkit_cmd("runs", "reproduce", first, "--dry-run", "--json", cwd=repo).json()
    assert plan["argv"][0] == str(repo / ".venv" / "bin" / "python") and plan["not_in_worktree"] == ["data/"]
    text = run_expkit_cmd("runs", "reproduce", first, "--dry-run", cwd=repo).stdout
    assert "not in the worktree (ignored or untracked, e.g. data): data/" in text
    again = run_expkit_cmd("runs", "reproduce", first, "--json", cwd=repo).json()["run_id"]
    assert run_expkit_cmd("runs", "wait", again, "--timeout", "60", "--json", cwd=repo).json()["state"] == "succeeded"
    # the reproduction runs the same command (re-pointed at its worktree): compare shows no difference in it
    cmp = run_expkit_cmd("runs", "compare", first, again, "--json", cwd=repo).json()
    assert cmp["differing_keys"] == [] and cmp["same"]["command"] == ".venv/bin/python train.py"
    assert cmp["runs"][1]["metrics"]["val_loss"]["final"] == 2.738
