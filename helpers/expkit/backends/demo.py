"""The backends part of `expkit demo`: what can run work here, and (when Slurm answers) one run as a Slurm job.

    from expkit.backends.demo import backends_section
    backends_section(project, echo, argv=[sys.executable, "train.py"])   # -> the Slurm run, or None
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

Echo = Callable[[str], None]


def backends_section(project: Path, echo: Echo, argv: list[str], runs_dir: Path | None = None):
    from expkit.backends import check_all
    from expkit.runs.control import wait
    from expkit.runs.launch import LaunchRequest, launch

    echo("$ expkit backends")
    rows = check_all()
    for a in rows:
        echo(f"{a.name:<6} {'ok ' if a.usable else 'no '} {a.detail}")
    if not next(a for a in rows if a.name == "slurm").usable:
        echo("(Slurm is not reachable here: with a cluster, `expkit launch --backend slurm ...` submits the same run)")
        return None
    echo(f"$ expkit launch --backend slurm --time 10 --cpus 1 -- {' '.join(argv)}")
    result = launch(LaunchRequest(argv=argv, cwd=project, runs_dir=runs_dir or project / "runs", name="train-slurm",
                                  seed=42, backend="slurm", backend_options={"time": "10", "cpus": 1}))
    run = result.run
    echo(f"submitted {run.id} as Slurm job {result.job_id}; its batch script is kept in the run dir:")
    for line in (run.path / "slurm.sbatch").read_text().splitlines():
        if line.startswith("#SBATCH"):
            echo(f"    {line}")
    st = wait(run, timeout=300)
    backend = run.manifest()["backend"]
    echo(f"$ expkit runs wait {run.id}  ->  {st['state']} (exit {st.get('exit_code')}) on node {backend['nodes']}")
    return run


def slurm_sweep_section(project: Path, echo: Echo, command: str, runs_dir: Path | None = None):
    """A 4-trial grid sweep submitted to Slurm as one job array (2 at a time), followed to the end, then its status.

    `command` takes ${lr} and ${bs}, e.g. f"{sys.executable} train.py --lr ${{lr}} --bs ${{bs}}". Returns the
    sweep status dict, or None when Slurm is not reachable here.
    """
    from expkit.backends import get
    from expkit.sweeps.spec import parse_spec
    from expkit.sweeps.sweep import RunOptions, find_sweep, run_sweep, status

    if not get("slurm").availability().usable:
        echo("(Slurm is not reachable here: with a cluster, `expkit sweep run SPEC --backend slurm` submits the "
             "whole sweep as one job array)")
        return None
    runs_dir = (runs_dir or project / "runs").resolve()
    spec = parse_spec({"name": "demo-slurm-sweep", "method": "grid", "metric": {"name": "loss", "goal": "minimize"},
                       "parameters": {"lr": {"values": [0.1, 0.01]}, "bs": {"values": [16, 32]}},
                       "command": command})
    echo("$ expkit sweep run sweep.yaml --backend slurm --max-parallel 2 --time 10")
    result = run_sweep(spec, RunOptions(backend="slurm", backend_options={"time": "10"}, max_parallel=2,
                                        cwd=project), runs_dir, echo=lambda msg: echo(f"  {msg}"))
    st = status(find_sweep(result["sweep"], runs_dir), runs_dir)
    echo(f"$ expkit sweep status {st['name']}  ->  {st['done']}/{st['total']} done on {st['backend']}")
    for j in st["jobs"]:
        echo(f"    {j['id']}  {j['state']:<10} Slurm job {j['backend_job_id']}  {j['params']}")
    return st
