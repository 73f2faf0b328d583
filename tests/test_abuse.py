"""Hostile input and faults, as a careless or hostile user brings them: secrets everywhere, huge single-line logs,
damaged state files, killed launchers, a full disk, paths that climb out, binary and immutable files.

Everything here is real: temporary git repos, the CLI in subprocesses, detached runs, a real tmpfs for the full
disk (skipped, with the reason, where mounting is impossible) and `chattr +i` for an immutable file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import expkit_env, git, run_expkit_cmd

# every planted secret: none may appear anywhere expkit writes or prints
SECRETS = {
    "inherited_env": "inh3r1ted-Env-Secret-7781",      # MY_API_KEY in the launching shell
    "env_flag": "envfl4g-Secret-9923",                 # --env HF_TOKEN=...
    "argv_flag": "argvfl4g-Secret-5561",               # --api-key VALUE
    "argv_eq": "argvEq-Secret-3317",                   # --token=VALUE
    "url_password": "urlPa55word-4471",                # --data https://user:PASS@host
    "config_key": "cfgK3y-Secret-8812",                # api_key: in the config
    "config_nested": "nestedPa55-Secret-1290",         # db: {password: ...}
    "config_url": "cfgUrlPa55-6630",                   # https://u:PASS@host in the config
    "token_shape": "hf_" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy",  # an HF token shape in a plain-looking field
    "dotenv": "d0tenv-Secret-4400",                    # untracked .env
    "credentials": "cr3dentials-Secret-2231",          # untracked credentials.json
    "content": "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2",  # an untracked notes file holding a GitHub token
    "queue_env": "qu3ueEnv-Secret-6650",               # queue add --env WANDB_API_KEY=...
    "plan_env": "pl4nEnv-Secret-1177",                 # a plan handler's environment (printed by a subprocess too)
    "sweep_env": "sw33pEnv-Secret-5520",               # a sweep spec's env: {WANDB_API_KEY: ...}
    "sweep_url": "sw33pUrlPa55-8834",                  # a sweep spec's env: {DATA_URL: https://u:PASS@host}
    "sweep_flag": "sw33pFl4g-Secret-2290",             # a sweep spec's command: --api-key VALUE (refused)
}


def _project(tmp_path: Path) -> Path:
    repo = tmp_path / "project"
    repo.mkdir()
    (repo / "train.py").write_text(textwrap.dedent("""\
        import os, sys
        # a careless script: it prints every secret it was given
        print("env", os.environ.get("MY_API_KEY"), os.environ.get("HF_TOKEN"), flush=True)
        print("argv", " ".join(sys.argv[1:]), flush=True)
        print("config", open(os.environ["EXPKIT_CONFIG"]).read() if os.environ.get("EXPKIT_CONFIG") else "", flush=True)
        print("sweep env", os.environ.get("WANDB_API_KEY"), os.environ.get("DATA_URL"), flush=True)
        print("loss=0.5 step=1", flush=True)
    """))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "initial")
    s = SECRETS
    (repo / ".env").write_text(f"SOME_PASSWORD={s['dotenv']}\n")
    (repo / "credentials.json").write_text(json.dumps({"client": s["credentials"]}))
    (repo / "notes.txt").write_text(f"remember the deploy token {s['content']}\n")
    (repo / "helper.py").write_text("def f():\n    return 1\n")  # an ordinary untracked file: kept in git.patch
    (repo / "cfg.yaml").write_text(textwrap.dedent(f"""\
        lr: 0.001
        api_key: {s['config_key']}
        db:
          host: localhost
          password: "{s['config_nested']}"
        mirror: https://reader:{s['config_url']}@data.example.com/set
        note: {s['token_shape']}
        max_tokens: 512
    """))
    return repo


def _grep_tree(root: Path) -> dict[str, list[str]]:
    hits: dict[str, list[str]] = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            for name, value in SECRETS.items():
                if value.encode() in data:
                    hits.setdefault(name, []).append(str(path.relative_to(root)))
    return hits


def _grep_text(text: str, where: str, hits: dict[str, list[str]]) -> None:
    for name, value in SECRETS.items():
        if value in text:
            hits.setdefault(name, []).append(where)


def _one_handler_plan(repo: Path, exp: str, sub: str, handler_source: str) -> None:
    """A plan with one experiment `exp` whose one sub-experiment `sub` is the function of that name in
    `handler_source` (handlers/<exp prefix>/); it scores 0.95 against a 0.9 target."""
    (repo / "research").mkdir(exist_ok=True)
    (repo / "research" / "research_plan.yaml").write_text(textwrap.dedent(f"""\
        project: {{name: {exp}, hypothesis: "secrets stay home"}}
        experiments:
          {exp}:
            name: "One handler"
            phase: 1
            sub_experiments: [{sub}]
            success_criteria:
              score: {{target: 0.9, acceptable: 0.8, failure: 0.5, direction: higher}}
    """))
    pkg = repo / "handlers" / exp.split("-")[0]
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text(handler_source + f"\n\ndef get_handlers():\n    return {{{sub!r}: {sub}}}\n")


def _plan_project(repo: Path) -> None:
    _one_handler_plan(repo, "leak-a", "talk", textwrap.dedent(f"""\
        import os

        import subprocess, sys

        def talk(runner):
            secret = os.environ.get("PLAN_AUTH_TOKEN")
            print("handler sees", secret, flush=True)
            subprocess.run([sys.executable, "-c", "import os; print('subprocess sees', os.environ['PLAN_AUTH_TOKEN'])"],
                           check=True)
            return {{"finding": "token was " + str(secret) + " and {SECRETS['token_shape']}",
                     "metrics": {{"score": 0.95}}, "artifacts": []}}
    """))


@pytest.mark.timeout(240)
def test_planted_secrets_appear_nowhere(tmp_path):
    """Secrets planted in the env, flags, URLs, the config, untracked files, a queue and a plan: zero hits in the
    whole run dir, the queue files, FINDINGS, results and the text and JSON of every command."""
    s = SECRETS
    repo = _project(tmp_path)
    _plan_project(repo)
    env = {"MY_API_KEY": s["inherited_env"], "PLAN_AUTH_TOKEN": s["plan_env"]}

    def cli(*args, check=True):
        r = run_expkit_cmd(*args, cwd=repo, env=env, timeout=120)
        if check:
            assert r.returncode in (0, 1), r
        return r

    outputs: list[tuple[str, str]] = []
    r = cli("launch", "--json", "--config", "cfg.yaml", "--env", f"HF_TOKEN={s['env_flag']}", "--",
            sys.executable, "train.py", "--api-key", s["argv_flag"], f"--token={s['argv_eq']}",
            "--data", f"https://user:{s['url_password']}@data.example.com/x")
    outputs.append(("launch", r.stdout + r.stderr))
    run_id = r.json()["run_id"]
    r = cli("runs", "wait", run_id)
    assert r.returncode == 0, r
    run_dir = repo / "runs" / run_id

    # the run worked with the real values, and the log shows them masked
    log = (run_dir / "stdout.log").read_text()
    assert "env *** ***" in log and "--api-key ***" in log and "loss=0.5" in log

    # untracked secret files are named in the manifest, left out of git.patch; ordinary ones are kept
    manifest = json.loads((run_dir / "manifest.json").read_text())
    skipped = set(manifest["git"]["secret_files_skipped"])
    assert {".env", "cfg.yaml", "credentials.json", "notes.txt"} <= skipped and "helper.py" not in skipped
    assert any(".env" in w and "secret" in w for w in manifest["warnings"])
    assert "helper.py" in (run_dir / "git.patch").read_text()
    assert manifest["config"]["values"]["max_tokens"] == 512 and manifest["config"]["values"]["lr"] == 0.001
    assert manifest["config"]["values"]["db"] == {"host": "localhost", "password": "***"}

    for args in (("runs", "list"), ("runs", "list", "--json"), ("runs", "show", run_id),
                 ("runs", "show", run_id, "--json"), ("runs", "logs", run_id), ("runs", "diagnose", run_id),
                 ("runs", "diagnose", run_id, "--json"), ("runs", "watch", run_id, "--once"),
                 ("runs", "watch", run_id, "--once", "--json"), ("runs", "reproduce", run_id, "--dry-run"),
                 ("runs", "reproduce", run_id, "--dry-run", "--json"), ("runs", "digest", "--peek"),
                 ("runs", "digest", "--peek", "--json"), ("runs", "compare", run_id, run_id),
                 ("runs", "compare", run_id, run_id, "--json"), ("runs", "metrics", run_id),
                 ("runs", "metrics", run_id, "--json"), ("runs", "wait", run_id, "--json")):
        r = cli(*args, check=False)
        assert r.returncode in (0, 1, 2) and "Traceback" not in r.stderr, (args, r)
        outputs.append((" ".join(args), r.stdout + r.stderr))

    # reproduce names every value the user must supply
    rep = cli("runs", "reproduce", run_id, "--dry-run", "--json").json()
    assert {"flag --api-key", "flag --token", "config api_key", "config db.password",
            "file .env (left out of git.patch)"} <= set(rep["redacted"])
    assert rep["config"] == str(run_dir / "config.yaml")  # cfg.yaml was left out of git.patch: the masked copy
    assert "MY_API_KEY" in rep["inherited_secrets"]

    # a queue: a secret env value is not written; a secret flag is refused with a hint
    r = cli("queue", "add", "--env", f"WANDB_API_KEY={s['queue_env']}", "--", sys.executable, "train.py")
    assert r.returncode == 0 and "WANDB_API_KEY is not written to the queue file" in r.stderr, r
    outputs.append(("queue add", r.stdout + r.stderr))
    r = cli("queue", "add", "--", sys.executable, "train.py", "--api-key", s["argv_flag"], check=False)
    assert r.returncode == 2 and "environment variable" in r.stderr, r
    outputs.append(("queue add --api-key", r.stdout + r.stderr))
    for args in (("queue", "status"), ("queue", "status", "--json")):
        r = cli(*args)
        outputs.append((" ".join(args), r.stdout + r.stderr))

    # a research plan whose handler prints and returns secrets
    r = cli("plan", "run", "leak-a")
    outputs.append(("plan run", r.stdout + r.stderr))
    for args in (("plan", "status"), ("plan", "status", "--json"), ("plan", "findings", "leak-a")):
        r = cli(*args, check=False)
        outputs.append((" ".join(args), r.stdout + r.stderr))
    results = repo / "research" / "experiments" / "leak-a" / "results.yaml"
    assert results.exists() and "***" in results.read_text()
    plan_logs = [p.read_text() for p in (repo / "runs").glob("*/stdout.log") if "handler sees" in p.read_text()]
    assert plan_logs and all("subprocess sees ***" in log for log in plan_logs), plan_logs

    # a sweep whose spec holds secrets in env: (stored as ***, given to the trials) and one with a secret flag
    (repo / "sweep.yaml").write_text(textwrap.dedent(f"""\
        name: leaky-sweep
        method: grid
        command: python3 train.py --lr ${{lr}}
        parameters:
          lr: {{values: [0.1, 0.2]}}
        env:
          WANDB_API_KEY: {s['sweep_env']}
          DATA_URL: "https://u:{s['sweep_url']}@data.example.com/x"
          WANDB_MODE: offline
    """))
    (repo / "flag-sweep.yaml").write_text(f"name: flag-sweep\nmethod: grid\ncommand: python3 train.py --api-key "
                                          f"{s['sweep_flag']} --lr ${{lr}}\nparameters:\n  lr: {{values: [0.1]}}\n")
    for args in (("sweep", "run", "sweep.yaml", "--gpus", "none"), ("sweep", "run", "sweep.yaml", "--dry-run"),
                 ("sweep", "run", "sweep.yaml", "--dry-run", "--json"),
                 ("sweep", "resume", "leaky-sweep", "--gpus", "none", "--json"),
                 ("sweep", "status", "leaky-sweep"), ("sweep", "status", "leaky-sweep", "--json"),
                 ("sweep", "report", "leaky-sweep", "--no-plots"),
                 ("sweep", "report", "leaky-sweep", "--no-plots", "--json"), ("runs", "list", "--group",
                                                                               "leaky-sweep", "--json")):
        r = cli(*args)
        outputs.append((" ".join(args), r.stdout + r.stderr))
    sweep_logs = [p.read_text() for p in (repo / "runs").glob("leaky-sweep-t*/stdout.log")]
    assert len(sweep_logs) == 2 and all("loss=0.5" in log and "sweep env *** https://u:***@data" in log
                                        for log in sweep_logs), sweep_logs
    r = cli("sweep", "run", "flag-sweep.yaml", "--gpus", "none", check=False)
    assert r.returncode == 2 and "environment variable" in r.stderr, r
    outputs.append(("sweep run flag-sweep.yaml", r.stdout + r.stderr))
    assert not (repo / "runs" / ".sweeps" / "flag-sweep").exists()
    assert list((repo / "research").rglob("FINDINGS.md")), "the plan wrote no FINDINGS.md to check"

    hits = _grep_tree(repo / "runs")
    for name, paths in _grep_tree(repo / "research").items():
        hits.setdefault(name, []).extend(paths)
    for where, text in outputs:
        _grep_text(text, where, hits)
    assert hits == {}, hits


def test_redactor_policy_covers_names_flags_urls_and_shapes():
    from expkit.redact import Redactor, looks_secret_content, looks_secret_file, redact_text

    red = Redactor()
    assert red.argv(["t.py", "--no-auth", "--lr", "3", "--token", "abc123", "--db-password=x"]) == [
        "t.py", "--no-auth", "--lr", "3", "--token", "***", "--db-password=***"]
    out = red.obj({"Auth": {"user": "u", "pass": "p"}, "author": "Ada", "max_tokens": 5, "tokenizer": "bert",
                   "nested": [{"aws_secret_access_key": "k"}], "url": "postgres://me:pw1234@db/x"})
    assert out == {"Auth": {"user": "***", "pass": "***"}, "author": "Ada", "max_tokens": 5, "tokenizer": "bert",
                   "nested": [{"aws_secret_access_key": "***"}], "url": "postgres://me:***@db/x"}
    text = redact_text("run --api-key k1 AKIAABCDEFGHIJKLMNOP sk-" + "a" * 30 + " HF_TOKEN=zz9 loss=0.1")
    assert text == "run --api-key *** *** *** HF_TOKEN=*** loss=0.1"
    assert all(looks_secret_file(n) for n in (".env", ".env.local", "gcp-credentials.json", "server.pem",
                                              "id_rsa", "id_rsa.pub", ".netrc", "my_secret.txt"))
    assert not any(looks_secret_file(n) for n in ("train.py", "environment.yml", "README.md"))
    assert looks_secret_content("export WANDB_API_KEY=0123abcd4567ef89aa01\n")
    assert looks_secret_content("command: python train.py --api-key 9f8e7d6c5b4a3210ff --lr 0.1\n")
    assert not looks_secret_content("parser.add_argument('--api-key', default=None)\n--tokenizer bert-base-uncased\n")
    assert looks_secret_content("mirror: https://u:pw@host/x\n") and looks_secret_content("t = 'ghp_" + "a1" * 18 + "'")
    assert not looks_secret_content("monitor_key: val_loss_epoch_2\nself.api_key = config.get('key')\n")
    from expkit.plan.runtime import expkit_plan_runtime
    from expkit.redact import SCRUB_ENV

    assert expkit_plan_runtime.SCRUB_ENV == SCRUB_ENV  # the plan runtime imports nothing from expkit


# ------------------------------------------------------------------------------------------------ bounded work
def _rchar() -> int:
    with open("/proc/self/io") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("rchar"))


def _tqdm_line(size: int, tail: bytes = b"") -> bytes:
    bar = b"".join(b"\r %3d%%|#####     | %d/100000 [00:01<01:40, 9.9it/s, loss=0.%04d]" % (i % 100, i, i)
                   for i in range(2000))
    return bar * max(1, size // len(bar)) + tail


def test_tail_of_a_single_line_log_reads_only_its_end(tmp_path):
    """`runs logs -n 20` on tqdm output without a newline: \\r is a line break, and only the end is read."""
    from expkit.runs.control import tail_lines

    log = tmp_path / "stdout.log"
    log.write_bytes(_tqdm_line(32 << 20, b"\rdone: loss=0.0001"))
    before = _rchar()
    lines = tail_lines(log, 20)
    read = _rchar() - before
    assert len(lines) == 20 and lines[-1] == "done: loss=0.0001" and "1999/100000" in lines[-2]
    assert read < 256 << 10, f"read {read} bytes of a 32 MiB log for 20 lines"
    # a stretch with no line break at all is read up to a fixed cap, not whole
    blob = tmp_path / "blob.log"
    blob.write_bytes(b"x" * (40 << 20))
    before = _rchar()
    lines = tail_lines(blob, 5)
    assert len(lines) == 1 and lines[0].startswith("…") and _rchar() - before <= (17 << 20)


def test_logs_follow_shows_each_redraw_as_a_line(tmp_path, git_repo, expkit):
    script = git_repo / "bars.py"
    script.write_text("import sys, time\n"
                      "for i in range(5):\n"
                      "    sys.stdout.write(f'\\r{i * 25}%|bar|'); sys.stdout.flush(); time.sleep(0.05)\n"
                      "sys.stdout.write('\\r\\nfinished\\n')\n")
    r = expkit("launch", "--json", "--", sys.executable, "bars.py", cwd=git_repo)
    run_id = r.json()["run_id"]
    r = expkit("runs", "logs", run_id, "--follow", "-n", "0", cwd=git_repo, timeout=60)
    assert r.returncode == 0, r
    text = (git_repo / "runs" / run_id / "stdout.log").read_text()
    shown = expkit("runs", "logs", run_id, "-n", "3", cwd=git_repo).stdout.splitlines()
    assert shown == ["75%|bar|", "100%|bar|", "finished"], (shown, text)


def test_follow_splits_on_carriage_returns_and_bounds_a_growing_line(tmp_path, monkeypatch):
    """follow() on an ended run: \r, \n and \r\n each end one line (no blank line from \r\n), and a line
    that never ends is handed out in FOLLOW_MAX_LINE pieces instead of growing in memory."""
    from expkit.runs import control
    from expkit.runs.store import Run

    run_dir = tmp_path / "r_20261201-000000"
    run_dir.mkdir()
    (run_dir / "manifest.json").write_text("{}")
    (run_dir / "status.json").write_text(json.dumps({"state": "succeeded"}))
    (run_dir / "stdout.log").write_bytes(b"10%|#\r20%|##\r\nnext\nlast")
    assert list(control.follow(Run(run_dir), 0)) == ["10%|#\n", "20%|##\n", "next\n", "last"]
    monkeypatch.setattr(control, "FOLLOW_MAX_LINE", 1000)
    monkeypatch.setattr(control, "FOLLOW_READ", 700)
    (run_dir / "stdout.log").write_bytes(b"y" * 50000)
    pieces = list(control.follow(Run(run_dir), 0))
    assert "".join(p.rstrip("\n") for p in pieces) == "y" * 50000
    assert len(pieces) > 20 and max(map(len, pieces)) <= 1000 + 700 + 1


_PEAK = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, check=False)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def _peak_mb(*cmd: str) -> float:
    """Peak RSS of `cmd` and every process it started (grep included), in MB."""
    out = subprocess.run([sys.executable, "-c", _PEAK, *cmd], capture_output=True, text=True,
                         env=expkit_env(), check=True)
    return int(out.stdout.strip()) / 1024


@pytest.mark.timeout(240)
def test_diagnose_and_watch_keep_a_fixed_memory_ceiling_on_single_line_logs(tmp_path):
    """A 160 MiB log of one tqdm line (and one of a stretch without any line break): diagnose finds the error
    at its very end, and diagnose and `watch --once` stay under 100 MB (grep alone holds the whole line)."""
    oom = b"\rRuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total capacity)"
    cases = {"tqdm.log": _tqdm_line(160 << 20, oom), "blob.log": b"a" * (160 << 20) + b"\n" + oom[1:]}
    for name, data in cases.items():
        log = tmp_path / name
        log.write_bytes(data)
        del data
        r = run_expkit_cmd("runs", "diagnose", log, "--full", "--json", timeout=180)
        assert r.returncode in (0, 1), r
        assert r.json()["cause"]["category"] == "cuda_oom", r.stdout[:2000]
        peak = _peak_mb(sys.executable, "-m", "expkit", "runs", "diagnose", str(log), "--full", "--json")
        assert peak < 100, f"diagnose peaked at {peak:.0f} MB on {name}"
    run_dir = tmp_path / "runs" / "one_20261201-000000"
    run_dir.mkdir(parents=True)
    (run_dir / "manifest.json").write_text(json.dumps({"run_id": run_dir.name, "command": {"argv": ["x"]}}))
    (run_dir / "status.json").write_text(json.dumps({"state": "failed", "exit_code": 1}))
    os.link(tmp_path / "tqdm.log", run_dir / "stdout.log")
    peak = _peak_mb(sys.executable, "-m", "expkit", "runs", "watch", str(run_dir), "--once", "--json")
    assert peak < 100, f"watch --once peaked at {peak:.0f} MB"


# ------------------------------------------------------------------------------------------------ stuck states
def test_a_damaged_status_json_is_listed_as_unknown_and_the_rest_still_show(git_repo, expkit):
    r = expkit("launch", "--json", "--", sys.executable, "train.py", "1", cwd=git_repo)
    good = r.json()["run_id"]
    assert expkit("runs", "wait", good, cwd=git_repo).returncode == 0
    runs = git_repo / "runs"
    damages = {"empty": b"", "truncated": b'{"state": "runn', "binary": bytes(range(256)) * 4}
    for label, data in damages.items():
        bad = runs / f"{label}_20261201-00000{len(label) % 10}"
        shutil.copytree(runs / good, bad)
        (bad / "status.json").write_bytes(data)
    (runs / "nomanifest_20261201-000001").mkdir()
    ((runs / "nomanifest_20261201-000001") / "manifest.json").write_bytes(b"\x00\xff garbage")
    (runs / "nomanifest_20261201-000001" / "status.json").write_text('{"state": "succeeded"}')

    listed = expkit("runs", "list", "--json", cwd=git_repo)
    assert listed.returncode == 0, listed
    rows = {row["run_id"]: row for row in listed.json()["runs"]}
    assert len(rows) == 5 and rows[good]["state"] == "succeeded"
    unknown = [rid for rid, row in rows.items() if row["state"] == "unknown"]
    assert len(unknown) == 3 and len(listed.json()["warnings"]) == 3
    text = expkit("runs", "list", cwd=git_repo)
    assert text.returncode == 0 and text.stderr.count("listed as unknown") == 3 and good in text.stdout
    for args in (("runs", "digest", "--peek"), ("runs", "compare", good, unknown[0]),
                 ("runs", "show", unknown[0]), ("runs", "show", "nomanifest_20261201-000001"),
                 ("runs", "diagnose", unknown[0]), ("runs", "logs", unknown[0], "--follow")):
        r = expkit(*args, cwd=git_repo, timeout=60)
        assert r.returncode in (0, 1, 2) and "internal error" not in r.stderr, (args, r)
    r = expkit("runs", "wait", unknown[0], cwd=git_repo, timeout=60)
    assert r.returncode == 2 and "cannot be read" in r.stderr and "hint:" in r.stderr, r


_PREPARE_AND_DIE = """
import os, signal, sys
from pathlib import Path
from expkit.runs.launch import LaunchRequest, prepare
run, env, _ = prepare(LaunchRequest(argv=[sys.executable, "train.py"], cwd=Path(sys.argv[1])))
print(run.id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # killed between creating the run and starting it
"""


def test_a_queued_run_whose_launcher_died_fails_and_waits_return(git_repo, expkit):
    proc = subprocess.run([sys.executable, "-c", _PREPARE_AND_DIE, str(git_repo)], cwd=git_repo,
                          capture_output=True, text=True, env=expkit_env(), timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc
    run_id = proc.stdout.strip()
    raw = json.loads((git_repo / "runs" / run_id / "status.json").read_text())
    assert raw["state"] == "queued"  # nothing rewrote it: the state is derived from the dead creator
    r = expkit("runs", "wait", run_id, "--timeout", "20", "--json", cwd=git_repo, timeout=60)
    assert r.returncode == 1 and r.json()["state"] == "failed" and "launcher died" in r.json()["reason"], r
    for args in (("runs", "logs", run_id, "--follow"), ("runs", "watch", run_id, "--timeout", "20")):
        r = expkit(*args, cwd=git_repo, timeout=60)
        assert r.returncode in (0, 1), (args, r)
    assert "launcher died" in expkit("runs", "diagnose", run_id, cwd=git_repo).stdout


def _mount_tmpfs(mnt: Path, size: str) -> None:
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")


@pytest.mark.timeout(120)
def test_runs_prepared_by_a_killed_sweep_scheduler_do_not_stay_queued(git_repo, expkit):
    """kill -9 of the scheduler leaves the run it prepared ahead `queued` on disk: it reads as failed (launcher
    died), a wait on it returns, and `sweep resume` still re-runs that trial rather than counting it failed."""
    (git_repo / "work.py").write_text("import sys, time\ntime.sleep(float(sys.argv[-1].split('=')[1]))\n")
    (git_repo / "sweep.yaml").write_text("name: kill9\nprogram: work.py\nmethod: grid\n"
                                         "parameters:\n  t: {values: [30, 0.1, 0.1]}\n")
    sched = subprocess.Popen([sys.executable, "-m", "expkit", "sweep", "run", "sweep.yaml", "--gpus", "none"],
                             cwd=git_repo, env=expkit_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = git_repo / "runs"

    def raw_states():
        out = {}
        for d in (runs.iterdir() if runs.is_dir() else []):
            try:
                out[d.name] = json.loads((d / "status.json").read_text())["state"]
            except (OSError, ValueError, KeyError):
                pass
        return out

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not ("queued" in raw_states().values()
                                               and "running" in raw_states().values()):
        time.sleep(0.1)
    os.kill(sched.pid, signal.SIGKILL)
    sched.wait()
    queued = [rid for rid, state in raw_states().items() if state == "queued"]
    assert queued, raw_states()
    r = expkit("runs", "wait", queued[0], "--timeout", "20", "--json", cwd=git_repo, timeout=60)
    assert r.returncode == 1 and "launcher died" in r.json()["reason"], r
    running = [rid for rid, state in raw_states().items() if state == "running"]
    for rid in running:
        expkit("runs", "stop", rid, "--grace", "1", cwd=git_repo)
    r = expkit("sweep", "resume", "kill9", "--gpus", "none", "--retry-failed", "--json", cwd=git_repo, timeout=90)
    assert r.returncode in (0, 1), r
    assert r.json()["counts"].get("succeeded", 0) >= 2, r.json()  # the two short trials ran after all


@pytest.fixture
def small_tmpfs(tmp_path):
    """A real tmpfs of 64 MiB (the CLI's launch insists on 50 MiB free before it starts anything)."""
    mnt = tmp_path / "disk"
    _mount_tmpfs(mnt, "64m")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A real tmpfs of 2 MiB."""
    mnt = tmp_path / "tiny"
    _mount_tmpfs(mnt, "2m")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("piped", [False, True], ids=["direct-log", "scrubbed-log"])
def test_a_run_that_fills_a_2_mib_disk_is_failed_with_a_disk_full_diagnosis(git_repo, tiny_tmpfs, monkeypatch,
                                                                            piped):
    """The same on a 2 MiB tmpfs, through the Python API with launch's 50 MiB free-space precondition lowered
    (the one thing changed: the run dir, the supervisor, the pump and the command are all real)."""
    from expkit.monitor.diagnose import diagnose
    from expkit.runs import launch as launch_mod
    from expkit.runs.control import wait

    monkeypatch.setattr(launch_mod, "MIN_FREE_BYTES", 0)
    monkeypatch.delenv("EXPKIT_RUNS_DIR", raising=False)
    (git_repo / "chatty.py").write_text("import sys\nfor i in range(200000):\n    print('step', i, 'x' * 100)\n")
    env = {"RUN_SECRET_TOKEN": "s3cret-for-the-pipe"} if piped else {}
    result = launch_mod.launch(launch_mod.LaunchRequest(argv=[sys.executable, "chatty.py"], cwd=git_repo, env=env,
                                                        runs_dir=tiny_tmpfs, seed=1))
    st = wait(result.run, timeout=90)
    assert st["state"] == "failed" and st.get("disk_full") and "no space left on device" in st["reason"], st
    assert diagnose(result.run)["cause"]["category"] == "disk_full"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("piped", [False, True], ids=["direct-log", "scrubbed-log"])
def test_a_run_that_fills_the_disk_is_failed_with_a_disk_full_diagnosis(git_repo, expkit, small_tmpfs, piped):
    """The script fills the disk of its run dir. With a secret in its env, its output goes through the
    supervisor (scrubbed), so the supervisor itself meets ENOSPC writing stdout.log."""
    (git_repo / "fill.py").write_text(
        "import os, sys\n"
        "out = os.environ['EXPKIT_RUN_DIR'] + '/ckpt.bin'\n"
        "with open(out, 'wb') as fh:\n"
        "    try:\n"
        "        while True:\n"
        "            fh.write(b'x' * (1 << 20)); fh.flush()\n"
        "    except OSError as exc:\n"
        "        print('checkpoint failed:', exc, flush=True)\n"
        "for i in range(20000):\n"
        "    print('still logging', i, 'x' * 200)\n"
        "sys.exit(1)\n")
    env = {"RUN_SECRET_TOKEN": "s3cret-for-the-pipe"} if piped else {}
    r = expkit("launch", "--json", "--runs-dir", small_tmpfs, "--", sys.executable, "fill.py", cwd=git_repo,
               env=env)
    assert r.returncode == 0, r
    run_id = r.json()["run_id"]
    w = expkit("runs", "wait", run_id, "--json", "--runs-dir", small_tmpfs, cwd=git_repo, timeout=90)
    st = w.json()
    assert st["state"] == "failed" and "no space left on device" in st["reason"], w
    d = expkit("runs", "diagnose", run_id, "--json", "--runs-dir", small_tmpfs, cwd=git_repo).json()
    assert d["cause"]["category"] == "disk_full", d
    status = json.loads((small_tmpfs / run_id / "status.json").read_text())
    assert status["disk_full"] is True and status["state"] == "failed"


@pytest.mark.parametrize("args,message", [
    (["--seed", "-1"], "outside 0..4294967295"), (["--seed", str(2**32)], "outside 0..4294967295"),
    (["--gpus", "99999"], "no machine has a GPU with index 99999"), (["--gpus", "0,0"], "lists a GPU twice"),
    (["--gpus", ""], "--gpus is empty")])
def test_bad_seeds_and_gpus_are_refused_before_anything_is_created(git_repo, expkit, args, message):
    r = expkit("launch", *args, "--", sys.executable, "train.py", cwd=git_repo, timeout=30)
    assert r.returncode == 2 and message in r.stderr and "hint:" in r.stderr, r
    assert not (git_repo / "runs").exists() or not [p for p in (git_repo / "runs").iterdir() if p.is_dir()]


# ------------------------------------------------------------------------------------------------ paths
@pytest.mark.parametrize("queue", ["../../escaped", "/tmp/abs-queue-i16", "a/b", ".hidden", ".."])
def test_queue_names_cannot_leave_the_runs_dir(tmp_path, git_repo, expkit, queue):
    r = expkit("queue", "add", "--queue", queue, "--", sys.executable, "train.py", cwd=git_repo)
    assert r.returncode == 2 and "invalid queue name" in r.stderr and "hint:" in r.stderr, r
    assert not (tmp_path / "escaped").exists() and not Path("/tmp/abs-queue-i16").exists()
    assert not (git_repo / "runs" / ".queue").exists() or not any((git_repo / "runs" / ".queue").iterdir())
    for args in (("queue", "status", "--queue", queue), ("queue", "run", "--queue", queue)):
        r = expkit(*args, cwd=git_repo)
        assert r.returncode == 2 and "invalid queue name" in r.stderr, r


def test_run_names_and_sub_ids_are_plain_names(tmp_path, git_repo, expkit):
    r = expkit("launch", "--name", "../../evil", "--", sys.executable, "train.py", cwd=git_repo)
    assert r.returncode == 2 and "invalid run name" in r.stderr, r
    assert not (tmp_path / "evil").exists() and not list(tmp_path.glob("evil*"))
    assert not (git_repo / "runs").exists()  # refused before anything was created
    (git_repo / "research").mkdir()
    (git_repo / "research" / "research_plan.yaml").write_text(
        "experiments:\n  x-a:\n    name: A\n    sub_experiments: ['../../escape', ok]\n"
        "    success_criteria: {score: {target: 0.9, acceptable: 0.8, failure: 0.5}}\n")
    r = expkit("plan", "validate", cwd=git_repo)
    assert r.returncode in (1, 2) and "cannot be used in a run or artifact name" in (r.stdout + r.stderr), r


def test_artifacts_do_not_follow_a_symlink_out_of_the_artifacts_folder(tmp_path):
    from expkit.plan.api import ResultsWriter

    outside = tmp_path / "outside"
    outside.mkdir()
    exp = tmp_path / "exp"
    (exp / "artifacts").mkdir(parents=True)
    (exp / "artifacts" / "link").symlink_to(outside)
    (exp / "artifacts" / "file.txt").symlink_to(outside / "planted.txt")
    writer = ResultsWriter(exp)
    for name in ("link/x.txt", "file.txt", "link"):
        with pytest.raises(ValueError, match="outside the artifacts dir"):
            writer.save_artifact(name, "data")
    assert list(outside.iterdir()) == []
    assert writer.save_artifact("plots/ok.txt", "fine") == "artifacts/plots/ok.txt"


# ------------------------------------------------------------------------------------------------ errors, not tracebacks
def _binary(path: Path) -> Path:
    path.write_bytes(bytes(range(256)) * 8 + b"\x00\xff\xfe")
    return path


def test_binary_inputs_give_an_error_and_a_hint(git_repo, expkit):
    spec = _binary(git_repo / "sweep.yaml")
    cfg = _binary(git_repo / "cfg.yaml")
    (git_repo / "research" / "experiments" / "x-a").mkdir(parents=True)
    (git_repo / "research" / "research_plan.yaml").write_text(
        "experiments:\n  x-a:\n    name: A\n    sub_experiments: [ok]\n"
        "    success_criteria: {score: {target: 0.9, acceptable: 0.8, failure: 0.5}}\n")
    _binary(git_repo / "research" / "experiments" / "x-a" / "results.yaml")
    unreadable = "/proc/self/mem"  # a regular file that even root cannot read (EIO): an unreadable input
    for args in (("sweep", "run", spec, "--dry-run"), ("launch", "--config", cfg, "--", sys.executable, "train.py"),
                 ("plan", "status"), ("plan", "findings", "x-a"), ("sweep", "estimate", spec),
                 ("sweep", "run", unreadable, "--dry-run"),
                 ("launch", "--config", unreadable, "--", sys.executable, "train.py")):
        r = expkit(*args, cwd=git_repo, timeout=60)
        assert r.returncode == 2 and r.stderr.startswith("error:") and "hint:" in r.stderr, (args, r)
        assert "internal error" not in r.stderr and "Traceback" not in r.stderr, (args, r)
    (git_repo / "research" / "research_plan.yaml").write_bytes(bytes(range(256)))
    r = expkit("plan", "validate", cwd=git_repo)  # a validation that ran and found problems: exit 1
    assert r.returncode == 1 and "not a text file" in r.stderr and "hint:" in r.stderr, r
    r = expkit("plan", "status", cwd=git_repo)
    assert r.returncode == 2 and "not a text file" in r.stderr and "hint:" in r.stderr, r
    assert not (git_repo / "runs").exists() or not [p for p in (git_repo / "runs").iterdir() if p.is_dir()]


@pytest.mark.timeout(120)
def test_alias_bombs_and_oversized_yaml_are_refused_naming_the_limit(git_repo, expkit):
    """A 1 KB "billion laughs" and a 17 MB file, as a --config, a sweep spec and a plan: refused by the shared
    loader with the limit in the message, before anything is created."""
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8))
    big = "a: " + "x" * (17 << 20) + "\n"
    (git_repo / "research").mkdir()
    for text, limit in ((bomb, "100,000 extra nodes"), (big, "16 MB limit")):
        for name in ("cfg.yaml", "sweep.yaml", "research/research_plan.yaml"):
            (git_repo / name).write_text(text)
        for args, code in ((("launch", "--config", "cfg.yaml", "--", sys.executable, "train.py"), 2),
                           (("sweep", "run", "sweep.yaml", "--dry-run"), 2), (("plan", "validate"), 1)):
            r = expkit(*args, cwd=git_repo, timeout=60)
            assert r.returncode == code and limit in r.stderr and "hint:" in r.stderr, (args, r)
    assert not (git_repo / "runs").exists() or not [p for p in (git_repo / "runs").iterdir() if p.is_dir()]


INJECTABLE = "import torch\nfor epoch in range(3):\n    loss = 1.0 / (epoch + 1)\n    print(loss)\n"


def test_an_immutable_script_is_refused_with_nothing_changed(git_repo, expkit):
    script = git_repo / "imm.py"
    script.write_text(INJECTABLE)
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", script]).returncode != 0:
        pytest.skip("chattr +i is not available on this file system")
    try:
        r = expkit("wandb", "inject", script, cwd=git_repo)
        assert r.returncode == 2 and "cannot write" in r.stderr and "chattr -i" in r.stderr, r
        assert "internal error" not in r.stderr
    finally:
        subprocess.run(["chattr", "-i", script])
    from expkit.inject import backup

    assert script.read_text() == INJECTABLE
    assert backup.backups(script) == []  # no stale .expkit-bak (nor what inject meant to write beside it)
    assert not [p for p in git_repo.rglob("*imm.py*") if p != script]
    # revert onto an immutable script: refused with a hint, the backup kept for a retry
    assert expkit("wandb", "inject", script, cwd=git_repo).returncode == 0
    injected = script.read_text()
    subprocess.run(["chattr", "+i", script])
    try:
        r = expkit("wandb", "revert", script, cwd=git_repo)
        assert r.returncode == 2 and "imm.py" in r.stderr and "chattr -i" in r.stderr, r
        assert "internal error" not in r.stderr
    finally:
        subprocess.run(["chattr", "-i", script])
    assert script.read_text() == injected and len(backup.backups(script)) == 1


def test_a_read_only_file_system_is_an_error_with_a_hint(tmp_path, expkit, small_tmpfs):
    script = small_tmpfs / "train.py"
    script.write_text(INJECTABLE)
    r = subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot remount read-only: {r.stderr.strip()}")
    r = expkit("wandb", "inject", script, cwd=tmp_path)
    assert r.returncode == 2 and "cannot write" in r.stderr and "hint:" in r.stderr, r
    assert script.read_text() == INJECTABLE and sorted(p.name for p in small_tmpfs.iterdir()) == ["train.py"]
    r = expkit("launch", "--runs-dir", small_tmpfs / "runs", "--", sys.executable, "x.py", cwd=tmp_path)
    assert r.returncode == 2 and "internal error" not in r.stderr and "hint:" in r.stderr, r


def test_a_second_queue_run_points_at_queue_status(git_repo, expkit):
    (git_repo / "slow.py").write_text("import time; time.sleep(30)\n")
    assert expkit("queue", "add", "--", sys.executable, "slow.py", cwd=git_repo).returncode == 0
    first = subprocess.Popen([sys.executable, "-m", "expkit", "queue", "run"], cwd=git_repo, env=expkit_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list((git_repo / "runs").glob("slow_*")):
            time.sleep(0.1)  # the first scheduler has taken the queue once its job has a run
        r = expkit("queue", "run", cwd=git_repo)
        assert r.returncode == 2 and "expkit queue status --queue default" in r.stderr, r
        assert "sweep status" not in r.stderr
    finally:
        os.killpg(first.pid, signal.SIGTERM)
        first.wait(timeout=30)
        for run in (git_repo / "runs").glob("slow_*"):
            expkit("runs", "stop", run.name, "--grace", "1", cwd=git_repo)


def test_reproduce_warns_about_inherited_secrets(git_repo, expkit):
    r = expkit("launch", "--json", "--", sys.executable, "train.py", "1", cwd=git_repo,
               env={"WANDB_API_KEY": "wandb-key-123456"})
    run_id = r.json()["run_id"]
    expkit("runs", "wait", run_id, cwd=git_repo)
    dry = expkit("runs", "reproduce", run_id, "--dry-run", cwd=git_repo)  # WANDB_API_KEY unset by the fixture
    assert dry.returncode == 0 and "WANDB_API_KEY was set for the original run and is not set now" in dry.stdout, dry
    dry = expkit("runs", "reproduce", run_id, "--dry-run", cwd=git_repo, env={"WANDB_API_KEY": "other-key-999"})
    assert "WANDB_API_KEY comes from your environment now" in dry.stdout, dry


# ------------------------------------------------------------------------------------------------ fuzzing
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

GOOD = {
    "plan": "project: {name: p}\nexperiments:\n  e-a:\n    name: A\n    sub_experiments: [s1, {id: s2, timeout: 5}]\n"
            "    success_criteria:\n      acc: {target: 0.9, acceptable: 0.8, failure: 0.5, direction: higher}\n",
    "sweep": "program: train.py\nmethod: grid\nmetric: {name: loss, goal: minimize}\nparameters:\n"
             "  lr: {values: [0.1, 0.01]}\n  bs: {value: 32}\n",
    "config": "lr: 1e-3\nmodel: {depth: 4, width: [64, 128]}\napi_key: abc\nanchors: &a {x: 1}\nuse: *a\n",
}
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(8))

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                     st.text(max_size=20), st.sampled_from(["1e-5", "${lr}", "*a", "&a", "~", "null", "-", ": x"]))
_docs = st.recursive(_scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                      st.dictionaries(st.text(max_size=12), kids, max_size=4)),
                     max_leaves=20)


def _mutate(draw_text: str, edits: list[tuple[int, int, str]]) -> str:
    text = draw_text
    for pos, cut, insert in edits:
        pos %= len(text) + 1
        text = text[:pos] + insert + text[pos + cut:]
    return text


def _inputs(kind: str):
    import yaml

    good = GOOD[kind]
    edits = st.lists(st.tuples(st.integers(0, 400), st.integers(0, 5),
                               st.text(alphabet=" \t\n:-[]{}&*!|>'\"#%@`,?0123456789abcxyz\x00\x85\u2028",
                                       max_size=6)), max_size=6)
    structured = {"plan": st.fixed_dictionaries({"experiments": st.dictionaries(
                      st.sampled_from(["e-a", "e-b", "../x", "", "e/a"]), _docs, max_size=3)}),
                  "sweep": st.fixed_dictionaries({"program": st.sampled_from(["train.py", "", None]),
                                                  "method": st.sampled_from(["grid", "random", "bayes", "x"]),
                                                  "parameters": st.dictionaries(st.text(max_size=8), _docs,
                                                                                max_size=3)}),
                  "config": _docs}[kind]
    return st.one_of(
        edits.map(lambda e: _mutate(good, e).encode("utf-8", "surrogatepass")),
        structured.map(lambda d: yaml.safe_dump(d, allow_unicode=True).encode()),
        st.binary(max_size=600),
        st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.just(BOMB.encode()),
    )


def _cli_in_process(args: list[str], cwd: Path) -> tuple[int, str]:
    import contextlib
    import io

    from expkit.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)

    def hung(*_):
        raise TimeoutError("no answer within 20 s")

    signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(args)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        signal.alarm(0)
        os.chdir(old)
    return code, err.getvalue()


def _fuzz(kind: str, data: bytes, tmp: Path) -> None:
    target = {"plan": tmp / "research_plan.yaml", "sweep": tmp / "sweep.yaml", "config": tmp / "cfg.yaml"}[kind]
    target.write_bytes(data)
    args = {"plan": ["plan", "validate", str(target)],
            "sweep": ["sweep", "run", str(target), "--dry-run", "--runs-dir", str(tmp / "runs")],
            # a runs dir that cannot be created: a config that parses stops there, before any run exists
            "config": ["launch", "--config", str(target), "--runs-dir", str(tmp / "afile" / "runs"), "--",
                       "true"]}[kind]
    (tmp / "afile").write_text("a file, not a folder")
    code, err = _cli_in_process(args, tmp)
    assert code in (0, 1, 2), (code, err, data[:300])
    assert "internal error" not in err and "Traceback" not in err, (err, data[:300])
    if code:
        assert err.startswith("error:") or "error" in err, (err, data[:300])


@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind", ["plan", "sweep", "config"])
def test_fuzzed_plans_sweeps_and_configs_never_crash(kind, tmp_path):
    """Mutations of a good file, random structures dumped as YAML, random bytes and an alias bomb: every answer
    is exit 0, 1 or 2 with `error:` on failure; no traceback, no internal error, no hang."""
    counter = iter(range(10**6))

    @settings(max_examples=120, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(_inputs(kind))
    def check(data):
        case = tmp_path / f"c{next(counter)}"
        case.mkdir()
        _fuzz(kind, data, case)
        shutil.rmtree(case, ignore_errors=True)

    check()


def test_a_run_with_scrubbed_output_survives_its_supervisor(git_repo, expkit):
    """With a secret to scrub, output goes through a pump process: killing the supervisor (kill -9) must not
    take the command down, and what it prints afterwards is still scrubbed."""
    (git_repo / "talk.py").write_text(
        "import os, sys, time\n"
        "for i in range(40):\n"
        "    print(i, os.environ['TALK_TOKEN'], flush=True)\n"
        "    time.sleep(0.05)\n")
    secret = "talk-Secret-77123"
    r = expkit("launch", "--json", "--", sys.executable, "talk.py", cwd=git_repo, env={"TALK_TOKEN": secret})
    run_dir = Path(r.json()["run_dir"])
    st = json.loads((run_dir / "status.json").read_text())
    os.kill(st["supervisor_pid"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and "39 ***" not in (run_dir / "stdout.log").read_text():
        time.sleep(0.1)
    log = (run_dir / "stdout.log").read_text()
    assert "39 ***" in log and secret not in log, log[-500:]


def test_a_queued_secret_comes_from_the_shell_that_runs_the_queue(git_repo, expkit):
    """`queue add --env HF_TOKEN=...` writes *** in the job file; `queue run` passes the value of its own shell,
    and warns when that shell does not have it."""
    (git_repo / "show.py").write_text("import os\nprint('token', os.environ.get('HF_TOKEN', '<unset>'))\n")
    r = expkit("queue", "add", "--env", "HF_TOKEN=given-at-add-time-1", "--", sys.executable, "show.py", cwd=git_repo)
    assert r.returncode == 0, r
    job = json.loads(next((git_repo / "runs" / ".queue" / "default" / "jobs").glob("j*.json")).read_text())
    assert job["env"] == {"HF_TOKEN": "***"}
    r = expkit("queue", "run", cwd=git_repo, env={"HF_TOKEN": "from-the-runner-2"})
    assert r.returncode == 0, r
    log = next((git_repo / "runs").glob("show_*/stdout.log")).read_text()
    assert log == "token ***\n"  # the runner's value reached the job, and was scrubbed from its log
    expkit("queue", "add", "--env", "HF_TOKEN=given-again-3", "--", sys.executable, "show.py", cwd=git_repo)
    r = expkit("queue", "run", cwd=git_repo)
    assert r.returncode == 0 and "HF_TOKEN not set in this shell" in r.stderr, r
    logs = sorted((p.stat().st_mtime, p.read_text()) for p in (git_repo / "runs").glob("show_*/stdout.log"))
    assert logs[-1][1] == "token <unset>\n"


# ------------------------------------------------------------------------------------------------ scrubbed logs
def _talking_plan(repo: Path, body: str) -> None:
    """A plan whose one handler runs `body` (with os, subprocess, sys, time imported) and scores 0.95."""
    _one_handler_plan(repo, "talk-a", "spawn", "import os, subprocess, sys, time\n\n\ndef spawn(runner):\n"
                      + textwrap.indent(textwrap.dedent(body), "    ")
                      + "    return {'finding': 'done', 'metrics': {'score': 0.95}, 'artifacts': []}\n")


def test_a_plan_handlers_subprocess_output_is_scrubbed(git_repo, expkit):
    """A handler that starts a subprocess writing straight to fd 1/2 (and writes to fd 1 itself with os.write):
    the unit's stdout.log is scrubbed by the same pump as a launched run, not only the handler's print()."""
    secret = "subPr0c-Secret-99213"
    _talking_plan(git_repo, """\
        print("py print", os.environ["PLAN_AUTH_TOKEN"], flush=True)
        os.write(1, ("fd1 " + os.environ["PLAN_AUTH_TOKEN"] + "\\n").encode())
        subprocess.run([sys.executable, "-c", "import os, sys; print('child out', os.environ['PLAN_AUTH_TOKEN']);"
                        "print('child err', os.environ['PLAN_AUTH_TOKEN'], file=sys.stderr)"], check=True)
        subprocess.run(["sh", "-c", 'echo "shell $PLAN_AUTH_TOKEN"'], check=True)
    """)
    r = expkit("plan", "run", "talk-a", "--json", cwd=git_repo, env={"PLAN_AUTH_TOKEN": secret}, timeout=120)
    assert r.returncode == 0, r
    logs = [p.read_text() for p in (git_repo / "runs").glob("*/stdout.log")]
    assert len(logs) == 1, logs
    log = logs[0]
    for line in ("py print ***", "fd1 ***", "child out ***", "child err ***", "shell ***"):
        assert line in log, log
    assert secret not in log and secret not in r.stdout + r.stderr


def _processes_with(marker: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as fh:
                    if marker.encode() in fh.read():
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


@pytest.mark.timeout(120)
def test_kill_9_of_a_plan_runner_with_a_scrubbed_log_leaves_nothing_running(git_repo, expkit):
    """With a log pump between the unit and stdout.log, kill -9 of the runner still kills the handler and its
    subprocess, and the pump ends with them: no process of the run is left (found by a marker in their env)."""
    secret = "k1ll9-Secret-44120"
    marker = f"EXPKIT_TEST_MARKER_{os.getpid()}_{time.monotonic_ns()}"
    _talking_plan(git_repo, """\
        child = subprocess.Popen([sys.executable, "-c", "import os, time\\nwhile True:\\n"
                                  "    print('tick', os.environ['PLAN_AUTH_TOKEN'], flush=True); time.sleep(0.1)"])
        child.wait()
    """)
    env = {**expkit_env(), "PLAN_AUTH_TOKEN": secret, marker: "1"}
    runner = subprocess.Popen([sys.executable, "-m", "expkit", "plan", "run", "talk-a"], cwd=git_repo, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        log = None
        while time.monotonic() < deadline:
            log = next((git_repo / "runs").glob("*/stdout.log"), None) if (git_repo / "runs").is_dir() else None
            if log is not None and log.read_text().count("tick ***") >= 3:
                break
            time.sleep(0.1)
        assert log is not None and "tick ***" in log.read_text(), "the handler's subprocess never printed"
        assert len(_processes_with(marker)) >= 4  # runner, unit server, unit, its subprocess, the pump
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _processes_with(marker):
            time.sleep(0.1)
        assert _processes_with(marker) == [], "processes of the killed plan run are still running"
        assert secret not in log.read_text()
    finally:
        for pid in _processes_with(marker):
            os.kill(pid, signal.SIGKILL)


from slurm_cluster import slurm_cluster  # noqa: E402,F401  (a real one-node cluster on localhost)


@pytest.mark.timeout(240)
def test_a_slurm_runs_log_is_scrubbed_as_it_is_written(slurm_cluster, git_repo, expkit):
    """On a real Slurm cluster: the job script runs the command through the log pump (the values come in sbatch's
    environment, not in the script), so stdout.log holds *** for an inherited secret, a secret flag and what a
    subprocess prints; a sweep's job array does the same; the command never sees the list of values."""
    inherited, flag = "slurmInh-Secret-30817", "slurmFlag-Secret-55102"
    url_pw = "slurmUrlPw-77120"
    (git_repo / "say.py").write_text(
        "import os, subprocess, sys\n"
        "print('env', os.environ['MY_API_KEY'], flush=True)\n"
        "print('argv', ' '.join(sys.argv[1:]), flush=True)\n"
        "subprocess.run(['sh', '-c', 'echo sub $MY_API_KEY >&2'], check=True)\n"
        "print('list visible:', 'EXPKIT_SCRUB_SECRETS' in os.environ, flush=True)\n"
        "print('args visible:', any(k.startswith('EXPKIT_ARG_') for k in os.environ), flush=True)\n")
    env = {**slurm_cluster.env, "MY_API_KEY": inherited}
    out = expkit("launch", "--backend", "slurm", "--json", "--", "python3", "say.py", "--api-key", flag,
                 f"--data=https://u:{url_pw}@host/x", cwd=git_repo, env=env).json()
    w = expkit("runs", "wait", out["run_id"], "--json", cwd=git_repo, env=env, timeout=120)
    assert w.json()["state"] == "succeeded", w
    run_dir = Path(out["run_dir"])
    log = (run_dir / "stdout.log").read_text()
    assert "env ***" in log and "argv --api-key *** --data=https://" in log and "sub ***" in log, log
    assert flag not in log and url_pw not in log, log
    assert "args visible: False" in log, log  # nor the variables that carried its secret arguments
    script = (run_dir / "slurm.sbatch").read_text()
    assert flag not in script and url_pw not in script and "EXPKIT_ARG_" in script
    assert "list visible: False" in log, log
    # a sweep on Slurm: one job array, each task's log scrubbed too
    (git_repo / "sweep.yaml").write_text("name: slurm-secret\nmethod: grid\ncommand: python3 say.py --lr ${lr}\n"
                                         "parameters:\n  lr: {values: [0.1, 0.2]}\n")
    r = expkit("sweep", "run", "sweep.yaml", "--backend", "slurm", "--json", cwd=git_repo, env=env, timeout=180)
    assert r.returncode == 0, r
    for path in (git_repo / "runs").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert inherited.encode() not in data, path
            assert flag.encode() not in data, path  # the batch script names a variable sbatch passes instead
    logs = [p.read_text() for p in (git_repo / "runs").glob("slurm-secret*/stdout.log")]
    assert len(logs) == 2 and all("env ***" in text and "sub ***" in text for text in logs), logs


def test_a_modal_runs_log_is_scrubbed_in_the_remote_body(git_repo, tmp_path):
    """The Modal function body through Modal's own `.local()` path (a temp folder stands in for the Volume, the
    one boundary that needs Modal's cloud): stdout.log on the "Volume" holds *** for a secret flag sent in the
    call, a URL password and a variable of the container's own (a Modal Secret), also from a subprocess; a
    secret that does not travel in the call (an --env value) is not sent just to be scrubbed."""
    modal = pytest.importorskip("modal", reason="the optional modal extra is not installed")
    import warnings

    from expkit import backends
    from expkit.backends import modal as mb
    from expkit.runs.launch import LaunchRequest, prepare

    flag, url_pw, container, local = "modalFlag-Secret-1200", "modalUrlPw-8871", "modalCont-Secret-3390", \
        "modalLocal-Secret-6621"
    (git_repo / "say.py").write_text(
        "import os, subprocess, sys\n"
        "print('argv', ' '.join(sys.argv[1:]), flush=True)\n"
        "subprocess.run(['sh', '-c', 'echo container $WANDB_API_KEY'], check=True)\n")
    argv = ["python3", "say.py", "--api-key", flag, "--data", f"https://u:{url_pw}@host/x"]
    run, env, _ = prepare(LaunchRequest(argv=argv, cwd=git_repo, runs_dir=git_repo / "runs", backend="modal",
                                        seed=1, env={"HF_TOKEN": local}))
    app, fn, spec, _ = backends.get("modal").build_app(run, argv, git_repo, env)
    assert set(spec["scrub"]) == {flag, url_pw}  # sent anyway in argv; the --env secret is not in the call
    assert local not in json.dumps(spec)
    spec.update(volume_mount=str(tmp_path / "volume"), cwd=str(git_repo))
    os.environ["WANDB_API_KEY"] = container  # what a Modal Secret puts in the container's environment
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fn.local(spec)
    finally:
        del os.environ["WANDB_API_KEY"]
    assert result["state"] == "succeeded", result
    mb.sync_files(run, mb.local_dir_files(tmp_path / "volume" / run.id))
    log = run.log_path.read_text()
    assert "argv --api-key *** --data https://u:***@host/x" in log and "container ***" in log, log
    for path in list(run.path.rglob("*")) + list((tmp_path / "volume").rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            assert not any(v.encode() in data for v in (flag, url_pw, container, local)), path


# ------------------------------------------------------------------------------------------------ sweep specs
SWEEP_SECRETS = {"env_token": "sweepEnv-Secret-40021", "env_url": "sweepUrlPa55-7713",
                 "env_shape": "hf_" + "Sw33pSh4peAbCdEfGhIjKlMn"}


def _secret_sweep(repo: Path) -> None:
    import hashlib

    digest = hashlib.sha256(SWEEP_SECRETS["env_token"].encode()).hexdigest()
    (repo / "show.py").write_text(textwrap.dedent(f"""\
        import hashlib, os, pathlib, sys
        tok = os.environ.get("HF_TOKEN")
        print("tok", tok, "db", os.environ.get("DB_URL"), "note", os.environ.get("NOTE"), flush=True)
        print("real token:", tok is not None and hashlib.sha256(tok.encode()).hexdigest() == "{digest}", flush=True)
        marker = pathlib.Path("failed-once-" + sys.argv[-1])
        if sys.argv[-1] == "--lr=0.2" and not marker.exists():
            marker.touch()
            sys.exit(3)
    """))
    s = SWEEP_SECRETS
    (repo / "sweep.yaml").write_text(textwrap.dedent(f"""\
        name: secret-sweep
        method: grid
        program: show.py
        command: [python3, show.py, "${{args}}"]
        parameters:
          lr: {{values: [0.1, 0.2]}}
        env:
          HF_TOKEN: {s['env_token']}
          DB_URL: "postgres://me:{s['env_url']}@db.example.com/x"
          NOTE: {s['env_shape']}
          WANDB_MODE: offline
    """))


def _grep_sweep_secrets(texts: dict[str, str], root: Path) -> dict[str, list[str]]:
    hits: dict[str, list[str]] = {}
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for name, value in SWEEP_SECRETS.items():
                if value.encode() in data:
                    hits.setdefault(name, []).append(str(path.relative_to(root)))
    for where, text in texts.items():
        for name, value in SWEEP_SECRETS.items():
            if value in text:
                hits.setdefault(name, []).append(where)
    return hits


@pytest.mark.timeout(240)
def test_secrets_in_a_sweep_specs_env_stay_out_of_its_state_and_resume_takes_them_from_the_shell(git_repo, expkit):
    """env: secrets (by name, a URL password, a token shape) reach the trials with their real values, but the
    batch meta, spec.yaml, the job files, the run dirs and every command's output hold ***; `sweep resume` takes
    the value from its own shell, and warns (the trial starts without it) when that shell does not have it."""
    _secret_sweep(git_repo)
    outputs: dict[str, str] = {}
    r = expkit("sweep", "run", "sweep.yaml", "--gpus", "none", "--json", cwd=git_repo, timeout=120)
    assert r.returncode == 1 and r.json()["counts"]["succeeded"] == 1 and r.json()["counts"]["failed"] == 1, r
    assert any("HF_TOKEN, DB_URL, NOTE from the spec's env: are not written" in w for w in r.json()["warnings"]), r
    outputs["sweep run"] = r.stdout + r.stderr
    state = git_repo / "runs" / ".sweeps" / "secret-sweep"
    assert json.loads((state / "batch.json").read_text())["spec"]["env"] == {
        "HF_TOKEN": "***", "DB_URL": "***", "NOTE": "***", "WANDB_MODE": "offline"}
    assert "HF_TOKEN: ***" in (state / "spec.yaml").read_text()
    logs = {p.parent.name: p.read_text() for p in (git_repo / "runs").glob("secret-sweep-t*/stdout.log")}
    assert all("real token: True" in log and "tok *** db postgres://me:***@db.example.com/x note ***" in log
               for log in logs.values()), logs

    # resume from a shell that has the token: the failed trial runs again with the real value
    r = expkit("sweep", "resume", "secret-sweep", "--gpus", "none", "--retry-failed", "--json", cwd=git_repo,
               env={"HF_TOKEN": SWEEP_SECRETS["env_token"], "DB_URL": "x", "NOTE": "y"}, timeout=120)
    assert r.returncode == 0 and r.json()["counts"]["succeeded"] == 2, r
    assert not [w for w in r.json()["warnings"] if "not set in this shell" in w], r
    outputs["sweep resume"] = r.stdout + r.stderr
    newest = max((git_repo / "runs").glob("secret-sweep-t0002_*/stdout.log"), key=lambda p: p.stat().st_mtime)
    assert "real token: True" in newest.read_text()
    # resume from a shell without it: a warning, and the trial starts without it
    (git_repo / "failed-once---lr=0.2").unlink()
    job = json.loads((state / "jobs" / "t0002.json").read_text())
    job["state"] = "failed"
    (state / "jobs" / "t0002.json").write_text(json.dumps(job))
    r = expkit("sweep", "resume", "secret-sweep", "--gpus", "none", "--retry-failed", cwd=git_repo, timeout=120)
    assert "warning: HF_TOKEN, DB_URL, NOTE not set in this shell" in r.stderr, r
    outputs["sweep resume (no token)"] = r.stdout + r.stderr
    for args in (("sweep", "status", "secret-sweep"), ("sweep", "status", "secret-sweep", "--json"),
                 ("sweep", "report", "secret-sweep", "--no-plots"), ("sweep", "report", "secret-sweep", "--json",
                                                                     "--no-plots"),
                 ("sweep", "run", "sweep.yaml", "--dry-run"), ("sweep", "run", "sweep.yaml", "--dry-run", "--json"),
                 ("runs", "list", "--json"), ("runs", "list")):
        r = expkit(*args, cwd=git_repo, timeout=60)
        assert r.returncode in (0, 1) and "Traceback" not in r.stderr, (args, r)
        outputs[" ".join(args)] = r.stdout + r.stderr
    assert _grep_sweep_secrets(outputs, git_repo / "runs") == {}


@pytest.mark.parametrize("command,params,what", [
    ("python3 show.py --api-key sk-proj-AbCdEf0123456789xyz --lr ${lr}", "", "flag --api-key"),
    ("python3 show.py --token=tok123abc456 --lr ${lr}", "", "flag --token"),
    ("python3 show.py --lr ${lr}", "  data: {value: 'https://u:pw99887766@host/x'}\n", "URL password"),
    ("python3 show.py --lr ${lr}", "  note: {values: ['hf_AbCdEfGhIjKlMnOpQrStUv12']}\n", "token"),
    ("python3 show.py --lr ${lr}", "  db_password: {values: [hunter2hunter]}\n", "flag --db_password"),
    ("python3 show.py --token ${envvar:SOME_TOKEN} --lr ${lr}", "", "flag --token"),
])
def test_a_secret_literal_in_a_sweeps_command_or_parameters_is_refused(git_repo, expkit, command, params, what):
    """It would be in every job file: exit 2 with a hint to use an environment variable, nothing written (a dry
    run too, whose output would show it)."""
    (git_repo / "sweep.yaml").write_text(f"name: lit\nmethod: grid\ncommand: {command}\nparameters:\n"
                                         f"  lr: {{values: [0.1]}}\n{params}")
    for extra in ((), ("--dry-run",)):
        r = expkit("sweep", "run", "sweep.yaml", "--gpus", "none", *extra, cwd=git_repo, timeout=60,
                   env={"SOME_TOKEN": "fromEnv-Secret-1234"})
        assert r.returncode == 2 and "hold a secret" in r.stderr and what in r.stderr, (extra, r)
        assert "hint:" in r.stderr and "environment variable" in r.stderr, r
        assert "Traceback" not in r.stderr and "fromEnv-Secret" not in r.stdout + r.stderr
    assert not (git_repo / "runs").exists() or not any((git_repo / "runs").rglob("*.json"))


def test_a_secret_looking_hyperparameter_with_a_number_is_not_refused(git_repo, expkit):
    (git_repo / "sweep.yaml").write_text("name: kd\nmethod: grid\ncommand: python3 train.py\n"
                                         "parameters:\n  key_dim: {values: [64, 128]}\n")
    r = expkit("sweep", "run", "sweep.yaml", "--gpus", "none", "--dry-run", cwd=git_repo, timeout=60)
    assert r.returncode == 0 and "2 trial(s)" in r.stdout, r  # (printed masked: output passes the one redactor)


@pytest.mark.timeout(180)
def test_a_scheduled_sweep_takes_its_env_secret_from_the_scripts_shell(tmp_path, expkit):
    """`expkit schedule --spec` writes the sweep's state with the env: secret as ***; the script's jobs take the
    value from the shell that runs the script (and say so when it is missing there)."""
    secret = "sched-Secret-88213"
    (tmp_path / "t.py").write_text("import os\nprint('tok', os.environ.get('HF_TOKEN'), "
                                   f"os.environ.get('HF_TOKEN') == {secret!r}, flush=True)\n")
    (tmp_path / "s.yaml").write_text(f"name: nightly\nmethod: grid\nparameters: {{lr: {{values: [0.3]}}}}\n"
                                     f"command: {sys.executable} t.py --lr ${{lr}}\nenv: {{HF_TOKEN: {secret}}}\n")
    r = expkit("schedule", "--spec", "s.yaml", "-o", "night.sh", cwd=tmp_path)
    assert r.returncode == 0, r
    out = subprocess.run(["bash", str(tmp_path / "night.sh")], cwd=tmp_path, capture_output=True, text=True,
                         env={**expkit_env(), "HF_TOKEN": secret}, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    logs = [p.read_text() for p in (tmp_path / "runs").glob("nightly-t*/stdout.log")]
    assert logs == ["tok *** True\n"], logs
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.name not in ("s.yaml", "t.py"):  # the two files the user wrote
            assert secret.encode() not in path.read_bytes(), path
    # the same job again from a shell without it: started without it, with a warning in the job's log
    job = tmp_path / "runs" / ".sweeps" / "nightly" / "jobs" / "t0001.json"
    data = json.loads(job.read_text())
    data["state"] = "failed"
    job.write_text(json.dumps(data))
    for done in (tmp_path / "logs").glob("*.done"):
        done.unlink()
    out = subprocess.run(["bash", str(tmp_path / "night.sh")], cwd=tmp_path, capture_output=True, text=True,
                         env=expkit_env(), timeout=120)
    job_logs = "".join(p.read_text() for p in (tmp_path / "logs").glob("t0001*.log"))
    assert "HF_TOKEN not set in this shell" in job_logs, job_logs
