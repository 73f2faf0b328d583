"""A sweep's trials and the launch request of each: what the local scheduler, the Slurm path and `estimate` share.

Below sweep.py (which drives a sweep) so that estimate.py and remote.py can use it without importing the driver.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expkit.runs.launch import LaunchRequest
from expkit.sweeps import sample
from expkit.sweeps.batch import Batch
from expkit.sweeps.gpus import Slot
from expkit.sweeps.spec import SweepSpec


@dataclass
class RunOptions:
    gpus: str | None = None          # auto | 0,1 | none
    per_gpu: int = 1
    max_parallel: int | None = None
    dry_run: bool = False
    retries: int | None = None       # overrides the spec
    backoff_s: float | None = None
    same_failures: int | None = None
    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    wandb_project: str | None = None
    backend: str | None = None       # None/local: the local scheduler; slurm: one job array (sweeps/remote.py)
    backend_options: dict[str, Any] = field(default_factory=dict)  # partition, account, time, cpus, mem
    detach: bool = False             # on a backend: return once submitted instead of following the trials


def plan_trials(spec: SweepSpec) -> list[dict[str, Any]]:
    """The parameter sets of a grid or random sweep, in order (bayes trials are asked one by one)."""
    if spec.method == "grid":
        combos = sample.grid(spec.params)
        return combos[: spec.run_cap] if spec.run_cap else combos
    if spec.method == "random":
        return [sample.random_trial(spec.params, spec.seed, i) for i in range(spec.run_cap)]
    return []


def job_request(job: dict, slot: Slot, *, group: str, env: dict[str, str], runs_dir: Path, gpu_machine: bool,
                wandb_project: str | None, record: tuple[str, dict[str, Any]]) -> LaunchRequest:
    """The LaunchRequest of one attempt: its lease, its stable seed and W&B run id (resumed, never new)."""
    env = {**env, "WANDB_RUN_ID": job["wandb_run_id"], "WANDB_RESUME": "allow"}
    gpus = str(slot.gpu_index) if slot.gpu_uuid else ("none" if gpu_machine else None)
    key, info = record
    return LaunchRequest(argv=job["argv"], name=job.get("name"), gpus=gpus, seed=job["seed"], env=env,
                         runs_dir=runs_dir, cwd=Path(job.get("cwd") or os.getcwd()), group=group,
                         wandb_project=wandb_project,
                         extra={key: {**info, "attempt": len(job["attempts"]) + 1, "gpu_uuid": slot.gpu_uuid}})


def sweep_request(spec: SweepSpec, batch: Batch, opts: RunOptions, runs_dir: Path, gpu_machine: bool):
    def make(job: dict, slot: Slot) -> LaunchRequest:
        env = {**opts.env, "EXPKIT_SWEEP": batch.name, "EXPKIT_TRIAL_ID": job["id"],
               "EXPKIT_TRIAL_PARAMS": json.dumps(job.get("params", {}))}
        return job_request(job, slot, group=batch.name, env=env, runs_dir=runs_dir, gpu_machine=gpu_machine,
                           wandb_project=opts.wandb_project or spec.project,
                           record=("sweep", {"name": batch.name, "trial_id": job["id"], "params": job.get("params"),
                                             "wandb_run_id": job["wandb_run_id"]}))
    return make
