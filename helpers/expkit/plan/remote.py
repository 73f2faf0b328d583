"""Plan sub-experiments on Modal, the way there: `expkit plan run --backend modal` submits each one.

Each sub-experiment is one call of the Modal backend's function (`expkit.backends.modal`): the image carries the
project folder (at /root/project) and the expkit package; the call carries the sub-experiment's job.json with its
paths made relative (handlers relative to the project, the experiment dir relative to the run dir), and the
container runs `python -m expkit.plan.worker` with EXPKIT_RUN_DIR=/results/<run id> on the Volume. So result.json,
metrics.jsonl, stdout.log and the artifacts (under experiment/artifacts/) all land on the Volume.

`plan run` does not wait for Modal: it records each unit as `submitted` in results.yaml and returns;
`expkit plan sync` (expkit.plan.sync) brings them back.
"""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path
from typing import Any

from expkit.errors import ExpkitError
from expkit.fsutil import read_json

EXPERIMENT_SUBDIR = "experiment"  # the experiment dir of a remote sub-experiment, inside its run dir
MODAL_MIN_TIMEOUT = 10  # Modal refuses shorter function timeouts


def _relative(path: str, root: Path) -> str:
    rel = os.path.relpath(path, root)
    if rel == ".." or rel.startswith(".." + os.sep):
        raise ExpkitError(f"the handlers at {path} are outside the project {root}, so they are not in the Modal image",
                          "move them under the project (handlers/ or infra/modal/handlers/), or set handlers_root "
                          "to a folder inside it")
    return rel


def check_shippable(source: dict[str, Any], root: Path) -> None:
    """Before anything is recorded: the handler module must be inside the project folder the image carries."""
    _relative(source["location"], root)


def remote_job(job: dict[str, Any], root: Path) -> dict[str, Any]:
    """job.json as the container reads it: handler paths relative to the project (the working dir there), the
    experiment dir relative to the run dir (on the Volume), nothing that names this machine's folders."""
    out = copy.deepcopy(job)
    out["experiment_dir"] = EXPERIMENT_SUBDIR
    src = out["source"]
    src["paths"] = [_relative(p, root) for p in src["paths"]]
    src["location"] = _relative(src["location"], root)
    if out.get("wandb_init"):
        out["wandb_init"].pop("dir", None)  # the worker puts W&B files in its own run dir
    run = out.get("config", {}).get("run")
    if isinstance(run, dict):
        run.pop("run_dir", None)  # the worker fills in where it runs
    return out


class ModalSubmission:
    """A sub-experiment handed to Modal. `detached`: the plan runner records it as submitted and moves on."""

    detached = True

    def __init__(self, job):
        from expkit import backends
        from expkit.plan.worker import JOB

        be = backends.get("modal", **job.backend_options)
        be.check()
        if job.timeout:  # the sub-experiment's own timeout, within the --time limit
            be.timeout = max(MODAL_MIN_TIMEOUT, math.ceil(min(job.timeout, be.timeout or math.inf)))
        files = {JOB: json.dumps(remote_job(read_json(job.run.path / JOB), job.cwd), indent=1, default=str) + "\n"}
        self.submission = be.submit(job.run, job.argv, job.cwd, job.env,
                                    call_extra={"files": files, "expkit_importable": True})
        self.job_id = self.submission.job_id

    def kill(self) -> None:
        pass  # submitted means handed over: the call runs on (`expkit runs stop ID` cancels it)
