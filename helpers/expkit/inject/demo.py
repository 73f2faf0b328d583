"""The W&B part of `expkit demo`: inject into the example's train.py, run it offline, read it back, revert.

    from expkit.inject.demo import wandb_section
    wandb_section(project_dir, echo=print)  # after the demo's own run; needs wandb in this interpreter
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable


def wandb_section(project: Path, echo: Callable[[str], None], script: str = "train.py",
                  args: tuple = ("--config", "config.json")) -> dict | None:
    """Show the diff, inject, run the script with WANDB_MODE=offline, print what W&B recorded, revert.

    Returns the run read back (see `read_wandb_run`), or None when wandb is not installed (said so via echo).
    """
    from expkit.inject import Options, inject_file, revert
    from expkit.monitor.wandb_local import read_wandb_run

    path = Path(project) / script
    original = path.read_bytes()
    echo(f"$ expkit wandb inject {script} --project expkit-demo --dry-run")
    result = inject_file(path, Options(project="expkit-demo"), dry_run=True)
    for line in result.diff.splitlines():  # the added W&B lines (moved lines only change indentation)
        if line.startswith("+") and not line.startswith("+++") and "wandb" in line:
            echo("  " + line)
    if importlib.util.find_spec("wandb") is None:
        echo("  (wandb is not installed here: pip install wandb to see the run recorded offline)")
        return None
    result = inject_file(path, Options(project="expkit-demo"))
    echo(f"injected ({result.framework}): {len(result.edits)} edits, backup {Path(result.backup).name}")
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(project), "WANDB_SILENT": "true"}
    try:
        proc = subprocess.run([sys.executable, script, *args], cwd=project, env=env, capture_output=True,
                              text=True, timeout=300)
        if proc.returncode != 0:
            echo(f"  the injected script failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
            return None
        run = read_wandb_run(project)
        echo(f"$ expkit wandb metrics {project}")
        echo(f"  run {run['run_id']} ({run['state']}), config: {', '.join(sorted(run['config']))}")
        for name, m in sorted(run["metrics"].items()):
            echo(f"  {name:20} latest {m['latest']:.4g}  best {m['best']:.4g}  ({m['count']} points)")
        return run
    finally:
        revert(path)
        same = path.read_bytes() == original
        echo(f"$ expkit wandb revert {script}  -> byte-identical to the original: {same}")
