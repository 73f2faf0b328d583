"""Modal's cloud, faked for tests (it cannot be reached here): `python -m modal_cloud VOLUME_DIR [expkit args...]`.

Runs the real expkit CLI with the real `modal` package; only the two calls that would reach Modal's servers are
replaced:
- `ModalBackend.spawn` (`app.run(detach=True)` + `Function.spawn`): runs the function body at once through Modal's
  own `Function.local()`, with VOLUME_DIR standing in for the mounted Volume (/results), the current folder for the
  project folder in the image (/root/project), and this interpreter as the image's `python`;
- `ModalBackend.volume_files` (`Volume.listdir` / `read_file`): reads VOLUME_DIR/<run id>/.
Each call spec is also kept as VOLUME_DIR/.calls/<run id>.json, so a test can read what would have been sent.
Credentials: set MODAL_TOKEN_ID/MODAL_TOKEN_SECRET to any value (they are only checked for presence).
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path


def install(volume: Path) -> None:
    from expkit.backends import modal as mb

    bindir = volume / ".bin"
    bindir.mkdir(parents=True, exist_ok=True)
    if not (bindir / "python").exists():
        (bindir / "python").symlink_to(sys.executable)

    def spawn(self, app, fn, spec):
        (volume / ".calls").mkdir(exist_ok=True)
        (volume / ".calls" / f"{spec['run_id']}.json").write_text(json.dumps(spec, indent=1))
        env = {**spec["env"], "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
        local = {**spec, "volume_mount": str(volume), "cwd": os.getcwd(), "env": env}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Modal warns that .local() has no real Volume: that is the point
            fn.local(local)
        return f"fc-fake-{spec['run_id']}"

    mb.ModalBackend.spawn = spawn
    mb.ModalBackend.volume_files = lambda self, run: mb.local_dir_files(volume / run.id)


def main() -> None:
    volume = Path(sys.argv[1]).resolve()
    install(volume)
    from expkit.cli import main as expkit_main

    expkit_main(sys.argv[2:])


if __name__ == "__main__":
    main()
