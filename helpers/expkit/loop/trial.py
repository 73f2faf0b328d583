"""Run one trial's K seeds as expkit runs and read back one metric value per seed.

Locally the seeds are jobs of a queue batch (.loops/<name>/trials/NNNN/), run by the GPU-leasing scheduler on free
GPUs or CPU slots, each stopped at the budget (SIGTERM, then SIGKILL after the grace). With --backend slurm they are
one job array. Either way a trial interrupted at any point is finished by running this again: the scheduler adopts
runs still going and re-queues lost ones; Slurm runs are found by the trial recorded in their manifests.
"""

from __future__ import annotations

import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from expkit.runs.store import TERMINAL, Run
from expkit.timeutil import now_iso

_CONTEXTS: dict[tuple[str, str], dict[str, Any]] = {}  # (commit, cwd) -> capture_context(): a kept trial's
# reference seeds run on the code state its first seeds ran on, so this process captures it once
FINAL_SECONDS = 60  # Slurm's --time is the budget + grace + this much (minutes are Slurm's smallest unit)
_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?nan|[-+]?inf)"


@dataclass
class SeedResult:
    seed: int
    run_id: str | None
    state: str
    value: float | None = None
    source: str | None = None
    over_time: bool = False
    duration_s: float | None = None
    crash: dict[str, Any] | None = None


@dataclass
class TrialSpec:
    loop: str
    trial: int
    commit: str
    argv: list[str]
    cwd: Path
    runs_dir: Path
    seeds: list[int]
    metric: str
    budget_s: float
    grace_s: float
    gpus: str | None = None
    backend: str = "local"
    backend_options: dict[str, Any] = field(default_factory=dict)
    metric_regex: str | None = None
    label: str = ""  # "t0003" or "c1-best": names the runs
    known_python: dict[str, Any] | None = None  # the interpreter facts of the baseline: no probe per trial


def run_trial(spec: TrialSpec, batch_dir: Path, echo: Callable[[str], None] | None = None) -> list[SeedResult]:
    if spec.backend == "local":
        runs = _run_local(spec, batch_dir, echo)
    else:
        runs = _run_remote(spec, batch_dir, echo)
    return [collect(spec, seed, run, over) for seed, run, over in runs]


# local: the queue's scheduler ------------------------------------------------------------------------------------
def _run_local(spec: TrialSpec, batch_dir: Path, echo) -> list[tuple[int, Run | None, bool]]:
    from expkit.runs.launch import capture_context
    from expkit.sweeps.batch import Batch
    from expkit.sweeps.gpus import plan_slots
    from expkit.sweeps.scheduler import Policy, Scheduler
    from expkit.sweeps.trials import job_request

    batch = Batch(batch_dir)
    if not batch.exists():
        batch.write_meta({"kind": "loop-trial", "name": spec.loop, "trial": spec.trial, "commit": spec.commit})
    # the seeds' jobs are made in memory and first written with their attempt, just before their run starts: one
    # write fewer per seed, and a loop killed before that finds no job file and makes the same job again
    missing = iter([i for i in range(len(spec.seeds)) if batch.load_job(f"s{i}") is None])

    def next_job():
        i = next(missing, None)
        if i is None:
            return None
        return {"id": f"s{i}", "state": "pending", "argv": list(spec.argv), "attempts": [], "seed": spec.seeds[i],
                "wandb_run_id": os.urandom(4).hex(), "cwd": str(spec.cwd), "name": _run_name(spec, i),
                "created_at": now_iso()}

    slots, _desc = plan_slots(spec.gpus, 1, len(spec.seeds))
    key = (spec.commit, str(spec.cwd))
    context = _CONTEXTS.get(key) or capture_context(spec.argv, dict(os.environ), spec.cwd, spec.runs_dir,
                                                    known_python=spec.known_python)
    _CONTEXTS[key] = context
    gpu_machine = any(s.gpu_uuid for s in slots) or bool((context.get("gpus") or {}).get("devices"))

    def make(job, slot):
        env = {"EXPKIT_LOOP": spec.loop, "EXPKIT_LOOP_TRIAL": str(spec.trial)}
        return job_request(job, slot, group=f"loop-{spec.loop}", env=env, runs_dir=spec.runs_dir,
                           # with a W&B project, each seed's W&B files go to its own run dir (read back there)
                           gpu_machine=gpu_machine, wandb_project=os.environ.get("WANDB_PROJECT"),
                           record=("loop", {"name": spec.loop, "trial": spec.trial, "label": spec.label,
                                            "commit": spec.commit, "seed_index": job["id"]}))

    policy = Policy(retries=0, same_failures=0, time_limit_s=spec.budget_s, kill_grace_s=spec.grace_s)
    Scheduler(batch, slots, runs_dir=spec.runs_dir, context=context, make_request=make, policy=policy,
              next_job=next_job, echo=echo).run()
    out = []
    for i, seed in enumerate(spec.seeds):
        job = batch.load_job(f"s{i}") or {}
        att = (job.get("attempts") or [None])[-1]
        run = Run(spec.runs_dir / att["run_id"]) if att and att.get("run_id") else None
        out.append((seed, run, bool(att and att.get("over_time"))))
    return out


def _run_name(spec: TrialSpec, i: int) -> str:
    return f"loop-{spec.loop}-{spec.label or f't{spec.trial:04d}'}-s{i}"


# Slurm: one job array --------------------------------------------------------------------------------------------
def _run_remote(spec: TrialSpec, batch_dir: Path, echo) -> list[tuple[int, Run | None, bool]]:
    from expkit.fsutil import atomic_write_json, read_json
    from expkit.runs.launch import LaunchRequest, submit_requests

    record = batch_dir / "runs.json"
    ids = read_json(record, default=None)
    if ids is None:
        ids = _find_tagged_runs(spec)  # submitted, then the loop process died before recording them
    if ids is None:
        options = dict(spec.backend_options)
        options.setdefault("time", str(math.ceil((spec.budget_s + spec.grace_s + FINAL_SECONDS) / 60)))
        reqs = [LaunchRequest(argv=list(spec.argv), name=_run_name(spec, i), seed=seed, runs_dir=spec.runs_dir,
                              cwd=spec.cwd, group=f"loop-{spec.loop}",
                              env={"EXPKIT_LOOP": spec.loop, "EXPKIT_LOOP_TRIAL": str(spec.trial)},
                              extra={"loop": {"name": spec.loop, "trial": spec.trial, "label": spec.label,
                                              "commit": spec.commit, "seed_index": f"s{i}"}})
                for i, seed in enumerate(spec.seeds)]
        subs = submit_requests(spec.backend, reqs, **options)
        ids = [s.run_id for s in subs]
        batch_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(record, ids)
        if echo:
            echo(f"submitted {len(ids)} seeds as one {spec.backend} job array")
    runs = [Run(spec.runs_dir / i) for i in ids]
    over = _wait_remote(spec, runs, echo)
    return [(seed, run, run.id in over) for seed, run in zip(spec.seeds, runs)]


def _find_tagged_runs(spec: TrialSpec) -> list[str] | None:
    from expkit.runs.store import RunStore

    found = {}
    for run in RunStore(spec.runs_dir).all(live=False):
        tag = run.manifest().get("loop") or {}
        if tag.get("name") == spec.loop and tag.get("trial") == spec.trial and tag.get("label") == spec.label:
            found.setdefault(tag.get("seed_index"), run.id)
    ids = [found.get(f"s{i}") for i in range(len(spec.seeds))]
    return ids if all(ids) else None


def _wait_remote(spec: TrialSpec, runs: list[Run], echo) -> set[str]:
    """Poll the scheduler (one batched query) until every run ended; cancel a run at its budget: Slurm sends
    SIGTERM, then SIGKILL after the cluster's KillWait."""
    from concurrent.futures import ThreadPoolExecutor

    from expkit.backends import for_run, refresh
    from expkit.runs.store import derive_status
    from expkit.timeutil import parse_iso

    over: set[str] = set()
    pool = ThreadPoolExecutor(max_workers=max(1, len(runs)))
    pending = []
    interval = 0.5
    try:
        while True:
            live = refresh(runs)
            states = {r.id: derive_status(live.get(r.id) or r.raw_status()) for r in runs}
            if all(st["state"] in TERMINAL for st in states.values()):
                break
            now = time.time()
            for r in runs:
                st = states[r.id]
                start = parse_iso(st.get("started_at"))
                if st["state"] == "running" and start and r.id not in over \
                        and now - start.timestamp() >= spec.budget_s:
                    over.add(r.id)
                    if echo:
                        echo(f"{r.id} reached the budget of {spec.budget_s:g}s: cancelling")
                    pending.append(pool.submit(for_run(r).cancel, r, spec.grace_s))
            time.sleep(interval)
            interval = min(interval * 1.3, 2.0)
        for f in pending:
            f.result()
    finally:
        pool.shutdown(wait=True)
    return over


# reading a seed back ----------------------------------------------------------------------------------------------
def collect(spec: TrialSpec, seed: int, run: Run | None, over_time: bool) -> SeedResult:
    """One seed's outcome: its metric value, or a crash with the diagnosis family (monitor.diagnose)."""
    if run is None or not run.path.exists():
        return SeedResult(seed, None, "not-run", crash={"family": "not_started", "title": "the seed never started",
                                                        "summary": "the scheduler started nothing for this seed"})
    st = run.status()
    res = SeedResult(seed, run.id, st["state"], over_time=over_time, duration_s=st.get("duration_s"))
    value, source = read_metric(run, spec.metric, spec.metric_regex)
    res.value, res.source = value, source
    stopped_by_budget = over_time and st["state"] in ("stopped", "failed")
    ok_state = st["state"] == "succeeded" or stopped_by_budget
    if ok_state and value is not None and math.isfinite(value):
        return res
    res.crash = crash_of(run, st, spec, value, over_time)
    return res


def crash_of(run: Run, st: dict[str, Any], spec: TrialSpec, value: float | None, over_time: bool) -> dict[str, Any]:
    from expkit.monitor.diagnose import diagnose

    try:
        diag = diagnose(run)
    except Exception as exc:  # a diagnosis problem must not lose the trial
        diag = {"cause": None, "verdict": f"diagnosis failed: {exc}"}
    cause = diag.get("cause") or {}
    if st["state"] == "succeeded" or (over_time and cause.get("category") in (None, "sigterm", "unknown")):
        if value is not None and not math.isfinite(value):
            family, title = "non_finite_metric", f"{spec.metric} is {value}"
        elif over_time:
            family, title = "budget_exceeded", f"stopped at the budget of {spec.budget_s:g}s before printing " \
                                               f"{spec.metric}"
        else:
            family, title = "no_metric", f"the run ended without reporting {spec.metric}"
        return {"family": family, "title": title, "run_id": run.id,
                "summary": f"{title}; see `expkit runs logs {run.id}`", "log": str(run.log_path)}
    return {"family": cause.get("category") or "unknown", "title": cause.get("title"), "run_id": run.id,
            "summary": cause.get("summary") or diag.get("verdict"), "fixes": (cause.get("fixes") or [])[:3],
            "log": str(run.log_path)}


def read_metric(run: Run, metric: str, regex: str | None = None) -> tuple[float | None, str | None]:
    """The run's final value of `metric`: --metric-regex if given, else W&B offline, metrics.jsonl, a final
    `metric: value` line, then whatever the log parser recognises."""
    from expkit.monitor.metrics import read_metrics

    if regex:
        value = _last_match(run.log_path, re.compile(regex))
        return value, ("log (--metric-regex)" if value is not None else None)
    value = _from_own_wandb_run(run, metric)
    if value is not None:
        return value, "wandb"
    try:
        found = read_metrics(run, "jsonl")["metrics"].get(metric)
    except Exception:
        found = None
    if found and found.get("latest") is not None:
        return float(found["latest"]), "jsonl"
    line = re.compile(rf"^\s*{re.escape(metric)}\s*[:=]\s*{_NUMBER}\s*$", re.I)
    value = _last_match(run.log_path, line)
    if value is not None:
        return value, "log"
    found = read_metrics(run, "log")["metrics"].get(metric)
    if found and found.get("latest") is not None:
        return float(found["latest"]), "log"
    return None, None


def _from_own_wandb_run(run: Run, metric: str) -> float | None:
    """The metric from this seed's own W&B run: the folder named with the W&B run id the scheduler gave it
    (WANDB_RUN_ID), under the run dir or the project's ./wandb where parallel seeds write side by side."""
    manifest = run.manifest()
    wandb_id = ((manifest.get("env") or {}).get("WANDB_RUN_ID") or "").strip()
    if not wandb_id:
        return None
    cwd = (manifest.get("command") or {}).get("cwd")
    for base in (run.path / "wandb", Path(cwd) / "wandb" if cwd else None):
        if base is None or not base.is_dir():
            continue
        for folder in base.glob(f"*run-*-{wandb_id}"):
            try:
                from expkit.monitor.wandb_local import read_wandb_run

                found = read_wandb_run(folder)["metrics"].get(metric)
            except Exception:  # a damaged W&B folder: the other sources still count
                continue
            if found and found.get("latest") is not None:
                return float(found["latest"])
    return None


def _last_match(path: Path, pattern: re.Pattern) -> float | None:
    """The number in the last line of the log (its last 4 MiB) that matches: group 1, else the whole match."""
    from expkit.monitor.logtext import read_tail

    try:
        data, _start = read_tail(path, 4 << 20)
    except OSError:
        return None
    text = data.decode("utf-8", "replace")
    for line in reversed(text.splitlines()):
        m = pattern.search(line)
        if m:
            raw = m.group(1) if m.groups() else m.group(0)
            try:
                return float(raw)
            except (TypeError, ValueError):
                continue
    return None
