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
