"""`expkit wandb revert` never loses work, backups stay out of git, and inject warns when W&B would stop the script.

Real files, real symlinks, real git repositories, the real CLI in a subprocess.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from conftest import HELPERS, git

from expkit.inject import inject_file, revert
from expkit.inject.backup import merge3

SCRIPTS = Path(__file__).parent / "inject_scripts"
MARK = "# expkit: wandb"


def project(tmp_path, script="mnist_argparse.py", repo=False):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "train.py").write_bytes((SCRIPTS / script).read_bytes())
    if repo:
        git(folder, "init", "-q", "-b", "main")
        git(folder, "add", ".")
        git(folder, "commit", "-q", "-m", "initial")
    return folder, folder / "train.py"


def test_untouched_script_comes_back_byte_for_byte(tmp_path):
    folder, script = project(tmp_path)
    original = script.read_bytes()
    result = inject_file(script)
    assert Path(result.backup) == folder / "train.py.expkit-bak", "not a git project: the backup sits beside it"
    out = revert(script)
    assert script.read_bytes() == original and not out["kept_edits"]
    assert not [p for p in folder.iterdir() if p.name != "train.py"], "backup and its record are gone"


def test_edits_away_from_expkit_lines_are_kept(expkit, tmp_path):
    folder, script = project(tmp_path)
    original = script.read_text()
    inject_file(script)
    edits = [("default=0.1, metavar='LR'", "default=0.3, metavar='LR'"),  # before the run starts
             ('    torch.save(model.state_dict(), "mnist_cnn.pt")\n',  # inside main, after the training loop
              '    torch.save(model.state_dict(), "mnist_cnn.pt")\n    print("saved")\n')]
    edited = script.read_text()
    for old, new in edits:
        assert old in edited
        edited = edited.replace(old, new)
    script.write_text(edited + "# tuned\n")
    res = expkit("wandb", "revert", script, "--json", cwd=folder)
    assert res.returncode == 0, res
    assert res.json()["kept_edits"]
    expected = original
    for old, new in edits:
        expected = expected.replace(old, new)
    expected += "# tuned\n"
    assert script.read_text() == expected, "exactly the user's edits, no W&B line left"


def test_editing_expkit_own_line_still_reverts(tmp_path):
    """The user changed the project in the marked wandb.init line and nothing else: that line goes anyway."""
    folder, script = project(tmp_path)
    original = script.read_bytes()
    inject_file(script)
    lines = script.read_text().splitlines(keepends=True)
    i = next(i for i, ln in enumerate(lines) if "wandb.init(" in ln and MARK in ln)
    lines[i] = lines[i].replace("wandb.init(", 'wandb.init(project="mine", ')
    script.write_text("".join(lines))
    revert(script)
    assert script.read_bytes() == original


def test_edits_on_expkit_lines_are_refused_with_a_diff_and_nothing_is_lost(expkit, tmp_path):
    folder, script = project(tmp_path)
    original = script.read_bytes()
    inject_file(script)
    text = script.read_text()
    # The user made expkit's init their own (mark removed, arguments changed): taking it out would lose that.
    lines = text.splitlines(keepends=True)
    i = next(i for i, ln in enumerate(lines) if "wandb.init(" in ln and MARK in ln)
    indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
    lines[i] = f'{indent}wandb.init(project="mine", config=vars(args), tags=["baseline"])\n'
    mine = "".join(lines).encode()
    script.write_bytes(mine)
    res = expkit("wandb", "revert", script, cwd=folder)
    assert res.returncode == 1, res
    assert "error:" in res.stderr and "--force" in res.stderr
    assert '+    wandb.init(project="mine"' in res.stdout or 'wandb.init(project="mine"' in res.stdout
    assert script.read_bytes() == mine, "the user's file is untouched"
    backup = folder / "train.py.expkit-bak"
    assert backup.read_bytes() == original, "the backup is still there"
    as_json = expkit("wandb", "revert", script, "--json", cwd=folder)
    assert as_json.returncode == 1 and as_json.json()["diff"] and not as_json.json()["changed"]
    forced = expkit("wandb", "revert", script, "--force", "--json", cwd=folder)
    assert forced.returncode == 0, forced
    assert script.read_bytes() == original
    assert Path(forced.json()["saved_current"]).read_bytes() == mine, "--force keeps the edited file too"


def test_inject_and_revert_keep_the_file_mode(tmp_path):
    folder, script = project(tmp_path)
    script.chmod(0o755)
    inject_file(script)
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    script.write_text(script.read_text() + "# a note\n")  # an edit: revert merges, and still keeps the mode
    revert(script)
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert script.read_text().endswith("# a note\n") and "wandb" not in script.read_text()


def test_a_symlinked_script_stays_a_symlink(tmp_path):
    folder, real = project(tmp_path)
    original = real.read_bytes()
    link = folder / "run.py"
    link.symlink_to("train.py")
    result = inject_file(link)
    assert result.changed and link.is_symlink() and os.readlink(link) == "train.py"
    assert "wandb.init(" in real.read_text()
    revert(link)
    assert link.is_symlink() and os.readlink(link) == "train.py"
    assert real.read_bytes() == original


def test_backups_live_in_the_git_dir_and_never_reach_git_patch(expkit, tmp_path):
    folder, script = project(tmp_path, repo=True)
    (folder / "sub").mkdir()
    nested = folder / "sub" / "train.py"
    nested.write_bytes((SCRIPTS / "module_level.py").read_bytes())
    git(folder, "add", ".")
    git(folder, "commit", "-q", "-m", "nested")
    res = expkit("wandb", "inject", script, "--json", cwd=folder)
    assert res.returncode == 0, res
    backup = Path(res.json()["backup"])
    assert backup == folder / ".git" / "expkit" / "backups" / "train.py.expkit-bak"
    inject_file(nested)
    assert (folder / ".git" / "expkit" / "backups" / "sub" / "train.py.expkit-bak").exists()
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=folder,
                            capture_output=True, text=True, check=True).stdout
    assert sorted(status.splitlines()) == [" M sub/train.py", " M train.py"], status
    launch = expkit("launch", "--json", "--", sys.executable, "-c", "pass", cwd=folder)
    assert launch.returncode == 0, launch
    run_dir = Path(launch.json()["run_dir"])
    patch = (run_dir / "git.patch").read_text()
    assert "wandb.init(" in patch and "expkit-bak" not in patch
    assert expkit("wandb", "revert", script, cwd=folder).returncode == 0
    assert expkit("wandb", "revert", nested, cwd=folder).returncode == 0
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=folder,
                            capture_output=True, text=True, check=True).stdout
    assert [ln for ln in status.splitlines() if not ln.endswith("runs/")] == [], status


def test_git_worktree_and_older_backups_beside_the_script(tmp_path):
    """A `.git` file (a worktree) points at the real git dir; a backup an older expkit left next to the script
    in a git project is still found by revert."""
    folder, script = project(tmp_path, repo=True)
    worktree = tmp_path / "wt"
    git(folder, "worktree", "add", "-q", str(worktree))
    wt_script = worktree / "train.py"
    original = wt_script.read_bytes()
    result = inject_file(wt_script)
    assert "/.git/worktrees/wt/expkit/backups/" in result.backup
    revert(wt_script)
    assert wt_script.read_bytes() == original
    legacy = folder / "train.py.expkit-bak"
    before = script.read_bytes()
    legacy.write_bytes(before)
    script.write_text("import wandb  " + MARK + "\n" + script.read_text())
    revert(script)
    assert script.read_bytes() == before and not legacy.exists()


def test_merge3_rules():
    base = ["a\n", "b\n", "c\n", "d\n"]
    assert merge3(base, ["a\n", "B\n", "c\n", "d\n"], ["a\n", "b\n", "c\n"]) == ["a\n", "B\n", "c\n"]
    assert merge3(base, ["a\n", "B\n", "c\n", "d\n"], ["a\n", "c\n", "d\n"]) is None  # both change b
    assert merge3(base, ["x\n", *base], ["a\n", "c\n", "d\n"]) == ["x\n", "a\n", "c\n", "d\n"]
    assert merge3(base, base[:2] + ["y\n"] + base[2:], base[:1] + base[2:]) == ["a\n", "y\n", "c\n", "d\n"]
    assert merge3(base, ["a\n", "c\n", "d\n"], ["a\n", "c\n", "d\n"]) == ["a\n", "c\n", "d\n"]  # same change


def _bare_env(tmp_path, **extra):
    """expkit's env with no W&B login anywhere: a fresh HOME, no key, no mode."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WANDB_", "NETRC"))}
    env.update(HOME=str(tmp_path / "home"), PYTHONPATH=str(HELPERS), **extra)
    (tmp_path / "home").mkdir(exist_ok=True)
    return env


def test_inject_warns_when_not_logged_in_and_names_the_fixes(tmp_path):
    folder, script = project(tmp_path)
    cmd = [sys.executable, "-m", "expkit", "wandb", "inject", str(script), "--dry-run"]
    res = subprocess.run(cmd, cwd=folder, env=_bare_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "stops at wandb.init" in res.stderr
    for fix in ("WANDB_MODE=offline", "wandb login", "expkit launch --wandb-project"):
        assert fix in res.stderr, fix
    as_json = subprocess.run([*cmd, "--json"], cwd=folder, env=_bare_env(tmp_path), capture_output=True,
                             text=True, timeout=120)
    assert any("wandb login" in w for w in json.loads(as_json.stdout)["warnings"])
    for ok in ({"WANDB_MODE": "offline"}, {"WANDB_API_KEY": "x" * 40}, {"WANDB_MODE": "disabled"}):
        quiet = subprocess.run(cmd, cwd=folder, env=_bare_env(tmp_path, **ok), capture_output=True, text=True,
                               timeout=120)
        assert quiet.returncode == 0 and "wandb.init" not in quiet.stderr, (ok, quiet.stderr)
    (tmp_path / "home" / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password " + "y" * 40 + "\n")
    (tmp_path / "home" / ".netrc").chmod(0o600)
    logged_in = subprocess.run(cmd, cwd=folder, env=_bare_env(tmp_path), capture_output=True, text=True,
                               timeout=120)
    assert "wandb.init" not in logged_in.stderr, logged_in.stderr


def test_launch_with_wandb_project_logs_offline_when_not_logged_in(tmp_path, git_repo):
    cmd = [sys.executable, "-m", "expkit", "launch", "--wandb-project", "demo", "--json", "--",
           sys.executable, "-c", "import os; print('mode', os.environ.get('WANDB_MODE'))"]
    res = subprocess.run(cmd, cwd=git_repo, env=_bare_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert any("offline" in w and "wandb sync" in w for w in out["warnings"]), out["warnings"]
    run_dir = Path(out["run_dir"])
    subprocess.run([sys.executable, "-m", "expkit", "runs", "wait", run_dir.name, "--timeout", "60"], cwd=git_repo,
                   env=_bare_env(tmp_path), capture_output=True, timeout=120)
    assert "mode offline" in (run_dir / "stdout.log").read_text()
    online = subprocess.run(cmd, cwd=git_repo, env=_bare_env(tmp_path, WANDB_API_KEY="k" * 40), capture_output=True,
                            text=True, timeout=120)
    assert not any("offline" in w for w in json.loads(online.stdout)["warnings"])
