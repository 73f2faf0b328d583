"""A sweep on a cluster backend (`expkit sweep run --backend slurm`): every pending trial in one job array.

The local scheduler is not used: Slurm queues the trials and runs at most `--max-parallel` of them at once
(`--array=0-N%K`). Each trial is still an expkit run in the sweep's group, and its job file records the run id
and Slurm job id, so `sweep status`, `sweep report` and `sweep resume` work as for a local sweep; they bring the
job files up to date from one batched Slurm query (`sync`).

Trials are not retried automatically on a cluster: `expkit sweep resume NAME --retry-failed` submits the failed
ones again as a new array. Bayes sweeps choose each trial from the finished ones, so they cannot be one array
and are refused (run them locally).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from expkit.errors import ExpkitError
from expkit.runs.store import TERMINAL, Run
from expkit.sweeps.batch import DONE, Batch, counts
from expkit.sweeps.gpus import Slot
from expkit.timeutil import now_iso

CLUSTER_BACKENDS = ("slurm",)


def check_backend(name: str, method: str) -> None:
    """Refuse what a cluster sweep cannot do, before anything is written."""
    if name == "modal":
        raise ExpkitError("--backend modal is not supported for sweeps yet",
                          "launch single runs on Modal with `expkit launch --backend modal`, or sweep on "
                          "--backend slurm or locally")
    if name not in CLUSTER_BACKENDS:
        from expkit import backends

        backends.get(name)  # an unknown name: the usual error with a suggestion
    if method == "bayes":
        raise ExpkitError(f"method: bayes cannot run on --backend {name}: each trial is chosen from the finished "
                          "ones, so the sweep cannot be submitted as one job array",
                          "use method: random or grid for a cluster sweep, or run the bayes sweep locally "
                          "(drop --backend)")


def not_applied(spec, opts) -> list[str]:
    """What the local scheduler would do that a cluster sweep does not, said rather than silently dropped."""
    out = []
    if (spec.retries if opts.retries is None else opts.retries) or spec.oom:
        out.append(f"retries and OOM retries are not automatic on {opts.backend}: "
                   "`expkit sweep resume NAME --retry-failed` resubmits the failed trials")
    if spec.early_terminate:
        out.append(f"early_terminate is not applied on {opts.backend}: every trial runs to its end")
    if (spec.metric or {}).get("target") is not None:
        out.append(f"metric.target is not applied on {opts.backend}: every submitted trial runs")
    return out


def backend_options(opts) -> dict[str, Any]:
    """The backend's options from RunOptions; --gpus means GPUs per trial here (a count, or type:count)."""
    options = dict(opts.backend_options)
    if opts.gpus is not None and str(opts.gpus).lower() != "none" and "gpus" not in options:
        options["gpus"] = opts.gpus
    return options


def submit(batch: Batch, spec, opts, runs_dir: Path, echo: Callable[[str], None]) -> list[dict[str, Any]]:
    """Submit every pending trial as one job array; record run id and job id in each job file."""
    from expkit.runs.launch import submit_requests
    from expkit.sweeps.trials import sweep_request

    pending = [j for j in batch.jobs() if j["state"] == "pending"]
    if not pending:
        return []
    options = backend_options(opts)
    make = sweep_request(spec, batch, opts, runs_dir, gpu_machine=False)
    requests = [make(job, Slot("cluster")) for job in pending]
    # SubmitRejected (a bad partition ...) leaves every job pending: nothing is recorded as running
    subs = submit_requests(opts.backend, requests, limit=opts.max_parallel, **options)
    stamp = now_iso()
    for job, sub in zip(pending, subs):
        job["attempts"].append({"run_id": sub.run_id, "state": "running", "backend": opts.backend,
                                "job_id": sub.job_id, "submitted_at": stamp, "started_at": stamp})
        job["state"] = "running"
        batch.save_job(job)
    array = subs[0].job_id.split("_")[0] if subs and subs[0].job_id else None
    batch.update_meta(backend={"name": opts.backend, "options": options, "limit": opts.max_parallel,
                               "last_array": array})
    limit = f", at most {opts.max_parallel} at once" if opts.max_parallel else ""
    echo(f"submitted {len(subs)} trial(s) to {opts.backend} as job array {array}{limit}")
    return [{"trial": j["id"], "run_id": s.run_id, "job_id": s.job_id} for j, s in zip(pending, subs)]


def sync(batch: Batch, runs_dir: Path) -> None:
    """Bring the job files of trials submitted to a backend up to date: one batched status query for all."""
    from expkit import backends

    live_jobs = [j for j in batch.jobs() if j["state"] == "running" and j["attempts"]
                 and j["attempts"][-1].get("backend", "local") != "local"]
    runs = [Run(Path(runs_dir) / j["attempts"][-1]["run_id"]) for j in live_jobs]
    if not runs:
        return
    live = backends.refresh([r for r in runs if r.path.exists()])
    metric = _metric(batch)
    for job, run in zip(live_jobs, runs):
        if not run.path.exists():
            st = {"state": "lost", "reason": f"run dir {run.path} is gone"}
        else:
            run.live = live.get(run.id)
            st = run.status()
        if st["state"] not in TERMINAL:
            continue
        att = job["attempts"][-1]
        att.update(state=st["state"], ended_at=st.get("ended_at") or now_iso(), reason=st.get("reason"),
                   exit_code=st.get("exit_code"))
        job["state"] = {"succeeded": "succeeded", "stopped": "stopped"}.get(st["state"], "failed")
        if metric and st["state"] == "succeeded":
            from expkit.analysis.metrics import best_of, run_metrics

            entry = run_metrics(run.path).get(metric[0])
            if entry:
                job["metric_value"], job["metric_best"] = entry["final"], best_of(entry, metric[1])
        batch.save_job(job)


def _metric(batch: Batch) -> tuple[str, str] | None:
    from expkit.sweeps.spec import parse_spec

    spec = parse_spec(batch.meta()["spec"], default_name=batch.name)
    return (spec.metric_name, spec.goal) if spec.metric_name else None


def follow(batch: Batch, runs_dir: Path, echo: Callable[[str], None], poll_s: float = 2.0) -> dict[str, int]:
    """Block until every submitted trial has ended, reporting each as it ends. Returns the job counts."""
    told = {j["id"] for j in batch.jobs() if j["state"] in DONE}  # ended before this call: not news
    echo("following the trials until they end (Ctrl-C stops following; the trials go on)")
    while True:
        sync(batch, runs_dir)
        jobs = batch.jobs()
        for j in jobs:
            if j["state"] in DONE and j["id"] not in told and j["attempts"]:
                told.add(j["id"])
                att = j["attempts"][-1]
                echo(f"{j['id']} {j['state']} ({att['run_id']})" + (f": {att['reason']}" if j["state"] == "failed"
                                                                    and att.get("reason") else ""))
        if not any(j["state"] == "running" for j in jobs):
            return counts(jobs)
        time.sleep(poll_s)


def drive(batch: Batch, spec, opts, runs_dir: Path, echo, created: bool, retry_failed: bool = False) -> dict[str, Any]:
    """`sweep run/resume --backend slurm`: submit what is pending, then follow it unless --detach."""
    echo = echo or (lambda _m: None)
    check_backend(opts.backend, spec.method)
    warnings = not_applied(spec, opts)
    batch.lock()  # one submitter per sweep: two would submit the same pending trials twice
    try:
        sync(batch, runs_dir)
        if retry_failed:
            for job in batch.jobs():
                if job["state"] == "failed":
                    job["state"] = "pending"
                    batch.save_job(job)
        echo(f"sweep {batch.name}: {'new' if created else 'resuming'}, on {opts.backend}")
        submitted = submit(batch, spec, opts, runs_dir, echo)
        detached = bool(opts.detach)
        if not detached:
            from expkit.sigint import ctrl_c_stops

            try:
                with ctrl_c_stops():
                    result_counts = follow(batch, runs_dir, echo)
            except KeyboardInterrupt:  # the trials are Slurm's now: stop watching, not the sweep
                echo(f"stopped following; the trials go on on {opts.backend}: `expkit sweep status {batch.name}`, "
                     f"`expkit sweep resume {batch.name}` to follow again")
                detached = True
        if detached:
            result_counts = counts(batch.jobs())
    finally:
        batch.unlock()
    return {"sweep": batch.name, "group": batch.name, "state_dir": str(batch.root), "runs_dir": str(runs_dir),
            "backend": opts.backend, "slots": f"{opts.backend} job array" + (
                f" (at most {opts.max_parallel} at once)" if opts.max_parallel else ""),
            "submitted": submitted, "counts": result_counts, "started": len(submitted), "adopted": 0,
            "requeued": 0, "stopped_reason": None, "detached": detached, "warnings": warnings,
            "next": {"report": f"expkit sweep report {batch.name}", "status": f"expkit sweep status {batch.name}"}}
