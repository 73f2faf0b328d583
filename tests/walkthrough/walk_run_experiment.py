"""Walk /run-experiment (skills/run-experiment/SKILL.md) on a project as an agent following it literally would,
answering every question with the recommended option, and print a checklist: each item is a fact the skill tells
the agent to read, with where it came from, or a friction point (✗) when the text and the commands disagree.

Usage: python tests/walkthrough/walk_run_experiment.py PROJECT [--extra-args "--device=cpu ..."]
          [--with torch==2.13.0] [--expkit "python -m expkit"]
PROJECT must be a git repository (its README, code and data as the user has them). The run is launched for real.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG_OR_DOCKER = ("config/", "configs/", "entrypoint.sh", "docker/")


class Walk:
    def __init__(self, project: Path, expkit: list[str], env: dict[str, str] | None = None):
        self.project, self.expkit, self.env, self.items = project, expkit, env, []

    def run(self, *args: str, ok=(0,)) -> tuple[int, dict]:
        proc = subprocess.run([*self.expkit, *args], cwd=self.project, capture_output=True, text=True, timeout=900,
                              env=self.env)
        lines = proc.stdout.strip().splitlines()
        try:
            out = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else json.loads(proc.stdout)
        except ValueError:
            out = {}
        if proc.returncode not in ok:
            self.check(False, f"expkit {' '.join(args)} exited {proc.returncode}", proc.stderr.strip()[-300:])
        return proc.returncode, out

    def check(self, ok: bool, item: str, detail: str = "") -> bool:
        self.items.append((ok, item, detail))
        return ok


def walk(project: Path, expkit: list[str], extra_args: str = "", with_pkgs: tuple[str, ...] = (),
         env: dict[str, str] | None = None) -> Walk:
    w = Walk(project, expkit, env)
    # Phase 1: gather, without asking anything yet
    _, ep = w.run("entrypoints", ".", "--json")
    suggested = ep.get("suggested")
    w.check(bool(suggested), "Command: entrypoints gives a suggested command", str(suggested))
    w.check(not any(p in (suggested or "") for p in CONFIG_OR_DOCKER) or " config/" in (suggested or ""),
            "Command: the suggestion is not a config-override or docker file run on its own", str(suggested))
    _, det = w.run("env", "detect", ".", "--json")
    rec = det.get("recommendation", {})
    w.check(bool(rec.get("python")), "Environment: `<python>` is known in Phase 1 (env detect recommendation.python)",
            str(rec.get("python")))
    _, gpus = w.run("gpus", "--json")
    gpu_arg = "auto:1" if gpus.get("free") else "none"
    _, wb = w.run("wandb", "status", "--json")
    w.check("logged_in" in wb, "W&B: wandb status says whether to run offline", str(wb.get("logged_in")))
    _, doc = w.run("doctor", "--json", ok=(0, 1))
    git = doc.get("git") or {}
    w.check(bool(git.get("commit")) and "branch" in git,
            "Repository row: branch and commit come from doctor's `git`", f"{git.get('branch')} @ {str(git.get('commit'))[:10]}")
    python = rec.get("python")
    command = suggested or ""
    # Phase 2: environment (the recommended one)
    if rec.get("create"):
        w.run("env", "create", rec["env"], "--manager", rec["manager"], "--json")
        if Path(rec.get("path") or "").is_relative_to(project):
            gi = project / ".gitignore"
            lines = gi.read_text().splitlines() if gi.exists() else []
            if f"{rec['env']}/" not in lines:
                gi.write_text("\n".join(lines + [f"{rec['env']}/"]) + "\n")
                subprocess.run(["git", "add", ".gitignore"], cwd=project, check=True)
                subprocess.run(["git", "-c", "user.name=walk", "-c", "user.email=walk@example.com", "commit", "-qm",
                                "ignore the env"], cwd=project, check=True)
    if rec.get("install_plan") or with_pkgs:
        w.run("env", "install", "--env", rec["env"], *[a for p in with_pkgs for a in ("--with", p)], "--json")
    code, ver = w.run("env", "verify", "--env", rec["env"], "--json", ok=(0, 1))
    w.check(ver.get("executable") == python, "Environment: verify's `executable` is the `<python>` shown in Phase 1",
            f"{ver.get('executable')} vs {python}")
    # Phase 4: launch, `<command>` started with `<python>`
    words = shlex.split(command)
    if words and words[0].startswith("python"):
        words[0] = python
    argv = words + shlex.split(extra_args)
    _, launched = w.run("launch", "--name", "walk", "--gpus", gpu_arg, "--json", "--", *argv)
    run_id = launched.get("run_id")
    warnings = launched.get("warnings", [])
    fixed = [x for x in warnings if "EXPKIT_RUN_DIR" in x]
    if fixed:
        w.check(True, "Launch: a fixed output path inside the repository is flagged with its fix", fixed[0][:120])
    code, waited = w.run("runs", "wait", run_id, "--timeout", "30", "--json", ok=(0, 1, 124))
    w.check(bool(waited) and waited.get("run_id") == run_id,
            "Launch: `runs wait --json` prints one JSON object, also on timeout (124)", f"exit {code}: {waited}")
    _, diag = w.run("runs", "diagnose", run_id, "--json", ok=(0, 1))
    w.check("healthy" in diag, "Launch: diagnose gives `healthy` and a verdict", str(diag.get("verdict"))[:100])
    # Phase 5: monitor
    proc = subprocess.run([*expkit, "runs", "watch", run_id, "--once", "--json"], cwd=project, capture_output=True,
                          text=True, timeout=120, env=env)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    snap = next((e for e in events if e.get("event") == "status"), {})  # an ended run adds its diagnosis after it
    prog = snap.get("progress", {})
    w.check(any(prog.get(k) is not None for k in ("step", "epoch", "loss")),
            "Monitor: the status line has the script's step/epoch/loss", json.dumps({k: prog.get(k) for k in (
                "step", "total", "epoch", "loss", "eval", "rate")}))
    w.run("runs", "wait", run_id, "--timeout", "600", "--json", ok=(0, 1))
    _, met = w.run("runs", "metrics", run_id, "--json", ok=(0, 1))
    names = sorted(met.get("metrics", {}))
    w.check(any("loss" in n or "acc" in n for n in names), "Monitor: runs metrics finds the metrics", ", ".join(names[:8]))
    settings = [n for n in names if n in ("batch_size", "eval_interval", "eval_iters", "block_size", "max_iters")]
    w.check(not settings, "Monitor: settings the script echoes are not reported as metrics", ", ".join(settings))
    w.run_id = run_id
    return w


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("project", type=Path)
    ap.add_argument("--extra-args", default="", help="flags the user adds to the suggested command")
    ap.add_argument("--with", dest="with_pkgs", action="append", default=[], help="packages the user adds")
    ap.add_argument("--expkit", default=str(ROOT / "bin" / "expkit"), help="how to call expkit")
    args = ap.parse_args()
    w = walk(args.project.resolve(), shlex.split(args.expkit), args.extra_args, tuple(args.with_pkgs))
    for ok, item, detail in w.items:
        print(f"{'✓' if ok else '✗'} {item}" + (f"  [{detail}]" if detail else ""))
    return 0 if all(ok for ok, _, _ in w.items) else 1


if __name__ == "__main__":
    sys.exit(main())
