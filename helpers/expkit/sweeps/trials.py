"""A sweep's trials and the launch request of each: what the local scheduler, the Slurm path and `estimate` share.

Below sweep.py (which drives a sweep) so that estimate.py and remote.py can use it without importing the driver.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from expkit.errors import ExpkitError
from expkit.fsutil import atomic_write_text
from expkit.runs.launch import LaunchRequest
from expkit.sweeps import sample
from expkit.sweeps.batch import Batch
from expkit.sweeps.gpus import Slot
from expkit.sweeps.spec import ARGS_JSON_FILE, SweepSpec


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


MAX_PLANNED = 100_000  # trials one sweep may plan: each is a job file, a run dir and a process


def trial_count(spec: SweepSpec) -> int:
    """How many trials the sweep runs, computed without enumerating a grid."""
    if spec.method == "grid":
        size = sample.grid_size(spec.params)
        return min(size, spec.run_cap) if spec.run_cap else size
    return spec.run_cap


def plan_trials(spec: SweepSpec) -> list[dict[str, Any]]:
    """The parameter sets of a grid or random sweep, in order (bayes trials are asked one by one).

    A grid is enumerated only as far as max_trials: 5 trials of a 10^9-point grid cost 5."""
    n = trial_count(spec)
    if spec.method != "bayes" and n > MAX_PLANNED:
        what = f"the grid has {n:,} combinations" if spec.method == "grid" else f"max_trials is {n:,}"
        raise ExpkitError(f"{what}: more trials than one sweep can plan (at most {MAX_PLANNED:,})",
                          "set max_trials (a grid runs its first N combinations), or use method: random with "
                          "max_trials: N")
    if spec.method == "grid":
        return list(sample.grid(spec.params, limit=spec.run_cap))
    if spec.method == "random":
        return [sample.random_trial(spec.params, spec.seed, i) for i in range(n)]
    return []


def first_trial(spec: SweepSpec) -> dict[str, Any]:
    """The parameters of trial 1 (for a bayes sweep: a random draw), without planning the rest."""
    if spec.method == "grid":
        return next(sample.grid(spec.params, limit=1))
    if spec.method == "random":
        return sample.random_trial(spec.params, spec.seed, 0)
    return {p.name: sample.sample(p, random.Random(0)) for p in spec.params}


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


def wandb_params_file(batch: Batch, job: dict) -> Path:
    """The trial's parameters in the file W&B's agent writes (WANDB_SWEEP_PARAM_PATH): wandb.init() reads it into
    wandb.config, so a script written for `wandb agent` gets its parameters from expkit the same way."""
    import yaml

    path = batch.root / "params" / f"{job['id']}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump({k: {"value": v} for k, v in (job.get("params") or {}).items()}, sort_keys=False)
    atomic_write_text(path, "wandb_version: 1\n\n" + body)
    return path


def sweep_request(spec: SweepSpec, batch: Batch, opts: RunOptions, runs_dir: Path, gpu_machine: bool):
    def make(job: dict, slot: Slot) -> LaunchRequest:
        env = {**spec.env, **opts.env, "EXPKIT_SWEEP": batch.name, "EXPKIT_TRIAL_ID": job["id"],
               "EXPKIT_TRIAL_PARAMS": json.dumps(job.get("params", {})),
               "WANDB_SWEEP_PARAM_PATH": str(wandb_params_file(batch, job))}
        if ARGS_JSON_FILE in job["argv"]:  # W&B's ${args_json_file}: the trial's parameters as a JSON file
            path = wandb_params_file(batch, job).with_suffix(".json")
            atomic_write_text(path, json.dumps(job.get("params") or {}))
            job = {**job, "argv": [str(path) if a == ARGS_JSON_FILE else a for a in job["argv"]]}
        return job_request(job, slot, group=batch.name, env=env, runs_dir=runs_dir, gpu_machine=gpu_machine,
                           wandb_project=opts.wandb_project or spec.project,
                           record=("sweep", {"name": batch.name, "trial_id": job["id"], "params": job.get("params"),
                                             "wandb_run_id": job["wandb_run_id"]}))
    return make
