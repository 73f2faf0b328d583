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

from conftest import HELPERS, expkit_env, git, run_expkit_cmd

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
    "plan_env": "pl4nEnv-Secret-1177",                 # a plan handler's environment
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


def _plan_project(repo: Path) -> None:
    (repo / "research").mkdir()
    (repo / "research" / "research_plan.yaml").write_text(textwrap.dedent("""\
        project: {name: leak, hypothesis: "secrets stay home"}
        experiments:
          leak-a:
            name: "Leaky handler"
            phase: 1
            sub_experiments: [talk]
            success_criteria:
              score: {target: 0.9, acceptable: 0.8, failure: 0.5, direction: higher}
    """))
    pkg = repo / "handlers" / "leak"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(f"""\
        import os

        def talk(runner):
            secret = os.environ.get("PLAN_AUTH_TOKEN")
            print("handler sees", secret, flush=True)
            return {{"finding": "token was " + str(secret) + " and {SECRETS['token_shape']}",
                     "metrics": {{"score": 0.95}}, "artifacts": []}}

        def get_handlers():
            return {{"talk": talk}}
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
                 ("runs", "compare", run_id, run_id, "--json")):
        r = cli(*args, check=False)
        assert r.returncode in (0, 1, 2) and "Traceback" not in r.stderr, (args, r)
        outputs.append((" ".join(args), r.stdout + r.stderr))

    # reproduce names every value the user must supply
    rep = cli("runs", "reproduce", run_id, "--dry-run", "--json").json()
    assert {"flag --api-key", "flag --token", "config api_key", "config db.password"} <= set(rep["redacted"])
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

    hits = _grep_tree(repo / "runs")
    for name, paths in _grep_tree(repo / "research").items():
        hits.setdefault(name, []).extend(paths)
    for where, text in outputs:
        _grep_text(text, where, hits)
    assert hits == {}, hits


def test_redactor_policy_covers_names_flags_urls_and_shapes():
    from expkit.redact import Redactor, looks_secret_file, redact_text

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
