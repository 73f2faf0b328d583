"""`expkit demo`: the whole product on a tiny real project, in seconds, on any CPU machine.

The example project (examples/quickstart) is copied into a fresh folder, committed to a new git
repository, and launched as a real detached run that is followed to its end and then inspected.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable

from expkit.demo_repo import init_demo_repo
from expkit.errors import ExpkitError, Failure

Echo = Callable[[str], None]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def make_project(workdir: Path) -> Path:
    """Copy the quickstart example into workdir/quickstart as a fresh git repository."""
    src = EXAMPLES / "quickstart"
    if not src.is_dir():
        raise ExpkitError(f"the example project is missing ({src})",
                          "run the demo from a clone of the expkit repository (pip install -e .)")
    project = workdir / "quickstart"
    shutil.copytree(src, project, ignore=shutil.ignore_patterns("__pycache__", "runs"))
    init_demo_repo(project, "quickstart example")
    return project


def section(echo: Echo, title: str) -> None:
    echo("")
    echo(f"== {title} " + "=" * max(0, 66 - len(title)))


def run_section(project: Path, echo: Echo):
    """Launch the example training run, follow it to the end, show what was recorded; returns the Run."""
    from expkit.runs.control import follow, tail_lines
    from expkit.runs.launch import LaunchRequest, launch
    from expkit.timeutil import human_duration

    section(echo, "1. launch a real training run, detached, with a reproducibility manifest")
    argv = [sys.executable, "train.py", "--config", "config.json"]
    echo("$ expkit launch --seed 42 --config config.json -- python train.py --config config.json")
    result = launch(LaunchRequest(argv=argv, seed=42, config=project / "config.json", cwd=project,
                                  runs_dir=project / "runs", name="train"))
    run = result.run
    echo(f"launched {run.id} (pid {result.pid}); it would survive this terminal closing")

    section(echo, f"2. follow its log: expkit runs logs {run.id} --follow")
    for chunk in follow(run, start_offset=0):
        echo("  " + chunk.rstrip("\n"))

    section(echo, f"3. what was recorded: expkit runs show {run.id}")
    m, st = run.manifest(), run.status()
    git = m["git"]
    py = m["python"]
    echo(f"  state      {st['state']} (exit code {st.get('exit_code')}) in {human_duration(st.get('duration_s'))}")
    echo(f"  command    {m['command']['shell']}")
    echo(f"  code       commit {git['commit'][:12]} on {git.get('branch')}, dirty={git['dirty']}")
    echo(f"  seed       {m['seed']['value']} ({m['seed'].get('how') or m['seed']['source']})")
    echo(f"  config     {m['config']['copy']} (sha256 {m['config']['sha256'][:12]}), lr={m['config']['values']['lr']}")
    echo(f"  python     {py.get('version')} at {py.get('executable')}")
    echo(f"  host       {m['host']['hostname']}, {m['host']['cpu_count']} CPUs")
    gpus = m["gpus"]
    echo(f"  gpus       {', '.join(d['name'] for d in gpus['devices']) or 'none: ' + str(gpus['reason'])}")
    echo(f"  files      {', '.join(sorted(p.name for p in run.path.iterdir() if not p.name.startswith('.')))}")

    section(echo, "4. the end of its log and its final metric")
    for line in tail_lines(run.log_path, 3):
        echo("  " + line)
    metrics_file = run.path / "metrics.jsonl"
    if metrics_file.exists():
        last = json.loads(metrics_file.read_text().splitlines()[-1])
        echo(f"  final metric: val_acc={last['val_acc']:.4f} at step {last['step']} (from metrics.jsonl)")
    if st["state"] != "succeeded":
        raise Failure(f"the demo run {run.id} ended {st['state']}: {st.get('reason')}",
                      f"see its log: {run.log_path}")
    return run


def failure_section(project: Path, echo: Echo) -> None:
    """A run that fails the way real ones do (a data file that is not there), and its diagnosis."""
    from expkit.monitor.demo import show_diagnosis
    from expkit.runs.control import wait
    from expkit.runs.launch import LaunchRequest, launch

    echo("$ expkit launch -- python train.py --config configs/big.json   (that file does not exist)")
    result = launch(LaunchRequest(argv=[sys.executable, "train.py", "--config", "configs/big.json"], cwd=project,
                                  runs_dir=project / "runs", name="train-big", seed=42))
    wait(result.run, timeout=60)
    echo(f"$ expkit runs diagnose {result.run.id}")
    show_diagnosis(result.run, echo)


SECTIONS = ("preflight", "run", "diagnose", "wandb", "plan", "sweep", "backends")


def run_demo(workdir: Path | None, echo: Echo, only: tuple[str, ...] = ()) -> Path:
    """The whole product on tiny real projects: pre-flight, a run, a failure diagnosed, W&B logging added,
    a research plan judged against its criteria, a GPU-aware sweep, and where else work can run."""
    wanted = set(only or SECTIONS)
    workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="expkit-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    echo(f"expkit demo: tiny real projects in {workdir}")
    project = make_project(workdir)
    run = None
    if "preflight" in wanted:
        from expkit.envs.showcase import preflight_demo

        section(echo, "0. pre-flight: GPUs, the training command, doctor")
        preflight_demo(project, echo)
    if "run" in wanted:
        run = run_section(project, echo)
    if "diagnose" in wanted:
        section(echo, "5. a run that fails, and why: expkit runs diagnose")
        failure_section(project, echo)
    if "wandb" in wanted:
        from expkit.inject.demo import wandb_section

        section(echo, "6. W&B logging added to train.py by a codemod, recorded offline, reverted")
        wandb_section(project, echo)
    if "plan" in wanted:
        from expkit.plan.demo import run_demo as plan_demo

        section(echo, "7. a research plan: sub-experiments judged against success criteria")
        plan_demo(workdir, echo)
    if "sweep" in wanted:
        from expkit.sweeps.demo import run_demo as sweep_demo

        section(echo, "8. a sweep on a GPU-aware queue, and its report")
        sweep_demo(workdir, echo)
    if "backends" in wanted:
        from expkit.backends.demo import backends_section

        section(echo, "9. where else work can run: expkit backends")
        backends_section(project, echo, argv=[sys.executable, "train.py", "--config", "config.json", "--epochs", "1"])
    section(echo, "next")
    echo(f"  cd {project}")
    echo("  expkit runs list                  # every run, newest first")
    if run is not None:
        echo(f"  expkit runs reproduce {run.id} --dry-run")
    echo("  expkit launch -- python train.py  # your own run")
    return workdir
