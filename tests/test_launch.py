"""`expkit launch`: manifest before start, detached supervision, exit capture, secrets, bad input."""

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

SCRIPT_CHECKS_MANIFEST = (
    "import json, os, pathlib\n"
    "m = pathlib.Path(os.environ['EXPKIT_RUN_DIR']) / 'manifest.json'\n"
    "print('manifest-before-start', json.loads(m.read_text())['run_id'] == os.environ['EXPKIT_RUN_ID'])\n"
    "print('env', os.environ['CUDA_VISIBLE_DEVICES'] == '', os.environ['PYTHONHASHSEED'], os.environ['EXPKIT_SEED'],"
    " os.environ['CUDA_DEVICE_ORDER'])\n"
)


def wait_json(expkit, run_id, cwd):
    res = expkit("runs", "wait", run_id, "--timeout", "60", "--json", cwd=cwd)
    return res, json.loads(res.stdout)


def test_launch_records_manifest_before_start_and_exports_env(expkit, git_repo):
    (git_repo / "check.py").write_text(SCRIPT_CHECKS_MANIFEST)
    git(git_repo, "add", "check.py")
    git(git_repo, "commit", "-qm", "check")
    res = expkit("launch", "--seed", "7", "--gpus", "none", "--json", "--", sys.executable, "check.py", cwd=git_repo)
    assert res.returncode == 0, res
    out = res.json()
    assert out["pid"] > 0 and out["state"] == "running" or out["state"] == "succeeded"
    assert out["run_id"].startswith("check_")
    wres, st = wait_json(expkit, out["run_id"], git_repo)
    assert wres.returncode == 0 and st["state"] == "succeeded"
    log = Path(out["log"]).read_text()
    assert "manifest-before-start True" in log
    assert "env True 7 7 PCI_BUS_ID" in log
    m = json.loads((Path(out["run_dir"]) / "manifest.json").read_text())
    assert {k: m["seed"][k] for k in ("value", "source", "applied", "exported")} == {
        "value": 7, "source": "explicit", "applied": True, "exported": 7}  # check.py reads EXPKIT_SEED
    assert m["git"]["is_repo"] and not m["git"]["dirty"] and len(m["git"]["commit"]) == 40
    assert m["git"]["branch"] == "main"
    assert m["command"]["argv"] == [sys.executable, "check.py"]
    assert m["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert m["host"]["boot_id"] and m["gpus"]["devices"] == [] and m["gpus"]["reason"]
    assert m["env"]["CUDA_VISIBLE_DEVICES"] == ""
    # runs never make the project dirty: the runs dir ignores itself
    porcelain = subprocess.run(["git", "status", "--porcelain"], cwd=git_repo, capture_output=True, text=True)
    assert porcelain.stdout == ""


def test_generated_seed_is_recorded_and_exported(expkit, git_repo):
    out = expkit("launch", "--json", "--", sys.executable, "train.py", "1", cwd=git_repo).json()
    expkit("runs", "wait", out["run_id"], cwd=git_repo)
    m = json.loads((Path(out["run_dir"]) / "manifest.json").read_text())
    assert m["seed"]["source"] == "generated"
    assert f"seed {m['seed']['value']}" in Path(out["log"]).read_text()


def test_exit_code_and_signal_are_recorded(expkit, git_repo):
    out = expkit("launch", "--json", "--", sys.executable, "-c", "import sys; print('bye'); sys.exit(3)",
                 cwd=git_repo).json()
    res, st = wait_json(expkit, out["run_id"], git_repo)
    assert res.returncode == 3 and st["state"] == "failed" and st["exit_code"] == 3
    out = expkit("launch", "--json", "--", sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)",
                 cwd=git_repo).json()
    res, st = wait_json(expkit, out["run_id"], git_repo)
    assert res.returncode == 128 + signal.SIGSEGV and st["signal"] == "SIGSEGV" and st["state"] == "failed"


def test_run_survives_death_of_launchers_process_group(expkit, git_repo, tmp_path):
    """The launching shell's whole process group is killed (like a closed terminal); the run goes on."""
    marker = tmp_path / "finished"
    (git_repo / "slow.py").write_text(
        f"import time, pathlib\ntime.sleep(1.5)\npathlib.Path({str(marker)!r}).write_text('done')\nprint('done')\n")
    shell = subprocess.Popen(
        ["bash", "-c", f"{sys.executable} -m expkit launch --json -- {sys.executable} slow.py; sleep 60"],
        cwd=git_repo, env=expkit_env(), stdout=subprocess.PIPE, text=True, start_new_session=True)
    run_id = json.loads(shell.stdout.readline())["run_id"]  # --json to a pipe: one line
    os.killpg(shell.pid, signal.SIGHUP)
    os.killpg(shell.pid, signal.SIGKILL)
    shell.wait()
    res, st = wait_json(expkit, run_id, git_repo)
    assert st["state"] == "succeeded" and marker.read_text() == "done"


def test_secrets_never_reach_the_run_dir(expkit, git_repo):
    secret_env, secret_override, secret_arg = "wandb-secret-0123456789", "hf-secret-abcdef", "cli-secret-xyz987"
    (git_repo / "notes.txt").write_text(f"token used: {secret_env}\n")  # untracked file -> git.patch
    cfg = git_repo / "cfg.yaml"
    cfg.write_text(f"lr: 0.1\napi_key: {secret_override}\n")
    res = expkit("launch", "--json", "--env", f"HF_TOKEN={secret_override}", "--config", "cfg.yaml",
                 "--wandb-project", "proj", "--", sys.executable, "train.py", "1", "--api-key", secret_arg,
                 cwd=git_repo, env={"WANDB_API_KEY": secret_env})
    assert res.returncode == 0, res
    out = res.json()
    expkit("runs", "wait", out["run_id"], cwd=git_repo)
    run_dir = Path(out["run_dir"])
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {"manifest.json", "status.json", "git.patch", "config.yaml", "stdout.log"} <= {p.name for p in files}
    for path in files:
        data = path.read_bytes()
        for secret in (secret_env, secret_override, secret_arg):
            assert secret.encode() not in data, f"{secret} leaked into {path.name}"
    m = json.loads((run_dir / "manifest.json").read_text())
    assert m["env"]["WANDB_API_KEY"] == "***" and m["env_overrides"]["HF_TOKEN"] == "***"
    assert "--api-key" in m["command"]["argv"] and "***" in m["command"]["argv"]
    assert m["wandb"]["project"] == "proj" and m["env"]["WANDB_PROJECT"] == "proj"
    assert m["env"]["WANDB_NAME"] == out["run_id"] and m["env"]["WANDB_DIR"] == str(run_dir)
    for text in (res.stdout, res.stderr):
        assert secret_env not in text and secret_override not in text


def test_dirty_tree_is_saved_as_patch_with_a_warning(expkit, git_repo):
    (git_repo / "train.py").write_text((git_repo / "train.py").read_text() + "print('local change')\n")
    (git_repo / "helper.py").write_text("X = 1\n")
    (git_repo / "weights.bin").write_bytes(b"\0\1\2" * 100)
    res = expkit("launch", "--json", "--", sys.executable, "train.py", "1", cwd=git_repo)
    out = res.json()
    m = json.loads((Path(out["run_dir"]) / "manifest.json").read_text())
    assert m["git"]["dirty"] is True and m["git"]["patch"] == "git.patch"
    patch = (Path(out["run_dir"]) / "git.patch").read_text()
    assert "print('local change')" in patch and "+X = 1" in patch and "weights.bin" not in patch
    assert any("weights.bin (binary)" in s for s in m["git"]["untracked_skipped"])
    assert any("may" in w or "uncommitted" in w for w in out["warnings"])
    res = expkit("launch", "--", sys.executable, "train.py", "1", cwd=git_repo)
    assert "warning: uncommitted changes" in res.stderr


def test_an_untracked_virtualenv_is_not_code(expkit, git_repo):
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(git_repo / ".venv")], check=True)
    out = expkit("launch", "--json", "--", sys.executable, "train.py", "1", cwd=git_repo).json()
    m = json.loads((Path(out["run_dir"]) / "manifest.json").read_text())
    assert m["git"]["dirty"] is False and m["git"]["virtualenvs_skipped"] == [".venv/"]
    assert not (Path(out["run_dir"]) / "git.patch").exists()


def test_not_a_git_repo_still_launches(expkit, tmp_path):
    res = expkit("launch", "--json", "--", sys.executable, "-c", "print('hi')", cwd=tmp_path)
    assert res.returncode == 0, res
    out = res.json()
    m = json.loads((Path(out["run_dir"]) / "manifest.json").read_text())
    assert m["git"]["is_repo"] is False and "not inside a git repository" in m["git"]["reason"]
    assert Path(out["run_dir"]).parent == tmp_path / "runs"


def test_missing_binary_is_a_recorded_failure(expkit, git_repo):
    res = expkit("launch", "--", "nosuchbinary-xyz", cwd=git_repo)
    assert res.returncode == 1
    assert "error:" in res.stderr and "command not found: nosuchbinary-xyz" in res.stderr and "hint:" in res.stderr
    assert "Traceback" not in res.stderr
    rows = expkit("runs", "list", "--json", cwd=git_repo).json()["runs"]
    assert rows[0]["state"] == "failed" and "command not found" in rows[0]["reason"]


@pytest.mark.parametrize("args, message", [
    (["--env", "NOEQUALS"], "--env expects KEY=VALUE"),
    (["--gpus", "zero"], "--gpus expects"),
    (["--config", "missing.yaml"], "config file not found"),
    (["--seed", "abc"], "'abc' is not a valid integer"),
])
def test_bad_input_is_rejected_before_anything_starts(expkit, git_repo, args, message):
    res = expkit("launch", *args, "--", sys.executable, "train.py", cwd=git_repo)
    assert res.returncode == 2, res
    assert message in res.stderr and "hint:" in res.stderr and "Traceback" not in res.stderr
    assert not (git_repo / "runs").exists() or not any((git_repo / "runs").iterdir())


def test_bad_config_file_is_named(expkit, git_repo):
    (git_repo / "bad.yaml").write_text("lr: [0.1\n")
    res = expkit("launch", "--config", "bad.yaml", "--", sys.executable, "train.py", cwd=git_repo)
    assert res.returncode == 2 and "cannot parse the config bad.yaml" in res.stderr


def test_unusable_runs_dir_fails_before_anything_starts(expkit, git_repo, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    res = expkit("launch", "--runs-dir", blocker / "runs", "--", sys.executable, "train.py", cwd=git_repo)
    assert res.returncode == 2 and "cannot create the runs dir" in res.stderr and "hint:" in res.stderr


def test_full_runs_dir_fails_before_anything_starts(expkit, git_repo, tmp_path):
    """A real 1 MiB tmpfs stands in for a full disk (needs mount rights; skipped without them)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        res = expkit("launch", "--runs-dir", mnt, "--", sys.executable, "train.py", cwd=git_repo)
        assert res.returncode == 2 and "MiB free" in res.stderr and "hint:" in res.stderr
        assert list(mnt.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mnt)])


def test_launches_in_the_same_second_get_unique_ids(tmp_path, git_repo):
    from expkit.runs.launch import LaunchRequest, prepare

    ids = {prepare(LaunchRequest(argv=["true"], name="same", cwd=git_repo, runs_dir=tmp_path / "r"))[0].id
           for _ in range(3)}
    assert len(ids) == 3


def test_config_is_copied_and_parsed(expkit, git_repo):
    (git_repo / "cfg.json").write_text('{"lr": 0.5, "layers": [64, 64]}')
    out = expkit("launch", "--json", "--config", "cfg.json", "--", sys.executable, "train.py", "1", cwd=git_repo).json()
    run_dir = Path(out["run_dir"])
    m = json.loads((run_dir / "manifest.json").read_text())
    assert m["config"]["values"] == {"lr": 0.5, "layers": [64, 64]}
    assert (run_dir / "config.json").read_text() == (git_repo / "cfg.json").read_text()


def test_interpreter_of_the_command_is_probed_not_expkits(expkit, git_repo, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (git_repo / "tool.py").write_text(f"#!{venv}/bin/python\nimport sys; print(sys.prefix)\n")
    (git_repo / "tool.py").chmod(0o755)
    out = expkit("launch", "--json", "--", "./tool.py", cwd=git_repo).json()
    m = json.loads((Path(out["run_dir"]) / "manifest.json").read_text())
    assert m["python"]["prefix"] == str(venv)
    assert "shebang" in m["python"]["resolved_from"]
    assert m["python"]["packages"] == {}


def test_help_and_version_do_not_import_heavy_modules():
    code = ("import sys, io, contextlib\n"
            "from expkit.cli import main\n"
            "for args in (['--help'], ['runs', '--help'], ['launch', '--help']):\n"
            "    try:\n"
            "        with contextlib.redirect_stdout(io.StringIO()):\n"
            "            main(args)\n"
            "    except SystemExit:\n"
            "        pass\n"
            "heavy = [m for m in ('libcst', 'wandb', 'torch', 'jinja2', 'matplotlib', 'yaml', 'numpy') if m in sys.modules]\n"
            "print(heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], env=expkit_env(), capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out
    ver = subprocess.run([sys.executable, "-m", "expkit", "--version"], env=expkit_env(), capture_output=True, text=True)
    import expkit

    assert ver.stdout.strip() == f"expkit {expkit.__version__}"


def test_unknown_command_suggests_the_closest(expkit):
    res = expkit("lanch")
    assert res.returncode == 2 and "no such command: lanch" in res.stderr and "launch" in res.stderr


def test_fixed_output_default_is_read_again_when_the_script_changes(tmp_path, monkeypatch):
    """The script's output flags are parsed once per version of the file (a plan or sweep runs it many times), and
    parsed again after an edit: a longer file, and a same-size replacement with the old mtime (a new inode)."""
    import expkit.entrypoints.analyze as analyze_mod
    from expkit.runs.outputs import fixed_output_warnings

    calls = []
    real = analyze_mod.analyze
    monkeypatch.setattr(analyze_mod, "analyze", lambda path, source=None: calls.append(path) or real(path, source))
    script = tmp_path / "train.py"
    text = ("import argparse\np = argparse.ArgumentParser()\np.add_argument('--save', default='model.pt')\n"
            "p.parse_args()\n")
    script.write_text(text)
    argv = [sys.executable, "train.py", "--lr", "0.1"]
    for _ in range(3):
        warnings = fixed_output_warnings(argv, tmp_path)
        assert len(warnings) == 1 and "--save model.pt (its default in train.py)" in warnings[0], warnings
    assert len(calls) == 1  # the same file is not parsed again

    script.write_text(text.replace("'model.pt'", "'/nonexistent-dir/model.pt'"))  # outside the repository now
    assert fixed_output_warnings(argv, tmp_path) == []
    assert len(calls) == 2

    old = script.stat()
    replacement = tmp_path / "train.py.new"
    inside = "out/aaaaaaaaaaaa/model.pt"  # as long as /nonexistent-dir/model.pt, but inside the repository
    replacement.write_text(text.replace("'model.pt'", f"'{inside}'"))
    os.replace(replacement, script)  # an editor's atomic save: same size, new inode
    os.utime(script, ns=(old.st_atime_ns, old.st_mtime_ns))
    assert script.stat().st_size == old.st_size and script.stat().st_mtime_ns == old.st_mtime_ns
    warnings = fixed_output_warnings(argv, tmp_path)
    assert len(warnings) == 1 and f"--save {inside} (its default in train.py)" in warnings[0], warnings
    assert len(calls) == 3
