"""What runs inside the Modal container (standard library only, shipped with the image as the expkit package;
it uses expkit's log pump and redactor, both standard library only).

The command's output, its status and anything it writes to EXPKIT_RUN_DIR land on the Volume under
/<volume mount>/<run id>/; `expkit runs sync ID` (`expkit plan sync EXP` for a plan) copies that folder back
into the local run dir.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from expkit import logpump
from expkit.redact import secret_values

REMOTE_STATUS = "remote_status.json"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _write(path: Path, obj: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def execute(spec: dict[str, Any]) -> dict[str, Any]:
    """Run spec["argv"] in spec["cwd"] with the run's environment; return (and write) how it ended.

    spec["files"] ({relative path: text}) are written into the run dir first (a plan sub-experiment's job.json);
    spec["expkit_importable"] puts the shipped expkit package on PYTHONPATH (for `python -m expkit.plan.worker`).
    """
    run_dir = Path(spec["volume_mount"]) / spec["run_id"]
    run_dir.mkdir(parents=True, exist_ok=True)
    for rel, text in (spec.get("files") or {}).items():
        target = run_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    env = {**os.environ, **spec["env"], "EXPKIT_RUN_DIR": str(run_dir), "EXPKIT_RUN_ID": spec["run_id"]}
    if spec.get("expkit_importable"):
        here = str(Path(__file__).resolve().parents[2])  # the folder holding the expkit package in the image
        env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    status: dict[str, Any] = {"state": "running", "started_at": _now(), "host": socket.gethostname()}
    _write(run_dir / REMOTE_STATUS, status)
    # scrubbed from stdout.log as it is written: the values the call says expkit masked, and those of the
    # container's own secret variables (Modal Secrets)
    secrets = logpump.secrets_from(json.dumps(list(spec.get("scrub") or []) + secret_values(env)))
    with open(run_dir / "stdout.log", "ab", buffering=0) as log:
        out, pump = log.fileno(), None
        if secrets:  # the pump in a thread: this body is the container's main process and outlives the command
            read_fd, out = os.pipe()
            pump = threading.Thread(target=logpump.pump, args=(read_fd, logpump.fd_writer(log.fileno()), secrets), daemon=True)
            pump.start()
        try:
            argv = [a.replace("${EXPKIT_RUN_DIR}", str(run_dir)).replace("$EXPKIT_RUN_DIR", str(run_dir))
                    for a in spec["argv"]]  # the run's own folder, as a local run gets it
            rc = subprocess.run(argv, cwd=spec["cwd"], env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT).returncode
            reason = f"exited with code {rc}" if rc >= 0 else f"killed by signal {-rc}"
        except OSError as exc:
            rc, reason = 127, f"could not start {spec['argv'][0]}: {exc.strerror or exc}"
            os.write(out, f"expkit: {reason}\n".encode())
        finally:
            if pump is not None:
                os.close(out)  # the pump ends once the command (and what it left running) closes its side too
                pump.join(timeout=10)
                if not pump.is_alive():
                    os.close(read_fd)
    status.update(state="succeeded" if rc == 0 else "failed", ended_at=_now(), reason=reason,
                  exit_code=rc if rc >= 0 else None, signal=-rc if rc < 0 else None)
    _write(run_dir / REMOTE_STATUS, status)
    return status
