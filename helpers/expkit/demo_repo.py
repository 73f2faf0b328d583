"""Each demo project is a fresh git repository: the demo sections (runs, plans, sweeps) share this one helper."""

from __future__ import annotations

import subprocess
from pathlib import Path


def init_demo_repo(folder: Path, message: str, paths: tuple[str, ...] = (".",)) -> None:
    """Make `folder` a fresh git repository with one commit by "expkit demo", so its runs record clean code."""
    for args in (["init", "-q"], ["add", *paths], ["commit", "-q", "-m", message]):
        subprocess.run(["git", "-c", "user.name=expkit demo", "-c", "user.email=demo@expkit.invalid", *args],
                       cwd=folder, check=True, capture_output=True)
