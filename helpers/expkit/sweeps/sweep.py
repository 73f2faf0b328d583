"""A sweep end to end: spec -> trials (jobs in a batch) -> the scheduler -> a summary. Also the plain queue."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from expkit.errors import ExpkitError
from expkit.fsutil import atomic_write_text
from expkit.paths import plain_name
from expkit.redact import MASK, Redactor, is_secret_name, redact_env
from expkit.runs.launch import LaunchRequest, capture_context, check_runs_dir
from expkit.runs.outputs import shared_output_warnings
from expkit.runs.store import Run, resolve_runs_dir
from expkit.sweeps.batch import DONE, Batch, counts, queue_root, sweeps_root
from expkit.sweeps.gpus import Slot, plan_slots
from expkit.sweeps.scheduler import Policy, Scheduler
from expkit.sweeps.secrets import (check_no_secret_literals, missing_warning, secret_env, stored_raw, stored_text,
                                  unmask_env)
from expkit.sweeps.spec import SweepSpec, build_argv, parse_spec
from expkit.sweeps.trials import RunOptions, first_trial, job_request, plan_trials, sweep_request


def open_sweep(spec: SweepSpec, runs_dir: Path, cwd: Path, spec_text: str | None = None) -> tuple[Batch, bool]:
    """The sweep's batch, created with its trials on first use. Returns (batch, created)."""
    batch = Batch(sweeps_root(runs_dir) / spec.name)
    if batch.exists():
        meta = batch.meta()
        if meta.get("fingerprint") != spec.fingerprint():
            raise ExpkitError(f"a sweep named {spec.name} already exists with a different spec",
                              f"continue it with `expkit sweep resume {spec.name}`, or give this spec another name: "
                              "(name: ... in the YAML)")
        if meta.get("spec") != stored_raw(spec):  # same trials, other env: or retries: `sweep resume` uses the latest
            batch.update_meta(spec=stored_raw(spec))
        return batch, False
    trials = plan_trials(spec)
    check_no_secret_literals(spec, (build_argv(spec, p) for p in trials))  # before anything is written
    batch.write_meta({"kind": "sweep", "name": spec.name, "fingerprint": spec.fingerprint(), "spec": stored_raw(spec),
                      "cwd": str(cwd), "method": spec.method, "metric": spec.metric, "planned": len(trials)})
    if spec_text is not None:
        atomic_write_text(batch.root / "spec.yaml", stored_text(spec, spec_text))
    for i, params in enumerate(trials):
        batch.new_job(f"t{i + 1:04d}", build_argv(spec, params), index=i, params=params, cwd=str(cwd),
                      name=f"{spec.name}-t{i + 1:04d}")
    return batch, True


def _bayes_source(spec: SweepSpec, batch: Batch, cwd: Path, jobs: Callable[[], list[dict]]) -> Callable[[], dict | None]:
    """Ask optuna for the next trial given every finished one (rebuilt from disk, so resume needs no extra state)."""
    try:
        import optuna
    except ImportError:
        raise ExpkitError("method: bayes needs optuna, which is not installed",
                          "pip install optuna, or use method: random") from None
    from expkit.sweeps.bayes import ask

    def next_job() -> dict | None:
        current = jobs()
        if len(current) >= spec.run_cap:
            return None
        params = ask(optuna, spec, current)
        i = len(current)
        return batch.new_job(f"t{i + 1:04d}", build_argv(spec, params), index=i, params=params, cwd=str(cwd),
                             name=f"{spec.name}-t{i + 1:04d}")

    return next_job


def run_sweep(spec: SweepSpec, opts: RunOptions, runs_dir: Path | None = None, spec_text: str | None = None,
              echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    runs_dir = resolve_runs_dir(runs_dir).resolve()
    cwd = Path(opts.cwd or os.getcwd()).resolve()
    check_no_secret_literals(spec, [build_argv(spec, first_trial(spec))] if spec.method == "bayes"
                             else (build_argv(spec, p) for p in plan_trials(spec)))
    if _on_backend(opts):
        from expkit.sweeps import remote

        remote.check_backend(opts.backend.lower(), spec.method)
        # the trials run wherever the cluster puts them: no local slots; --gpus is a count per trial there
        slots, slot_desc = [], f"{opts.backend.lower()} job array" + (
            f" (at most {opts.max_parallel} at once)" if opts.max_parallel else "")
    else:
        slots, slot_desc = plan_slots(opts.gpus, opts.per_gpu, opts.max_parallel)
    if opts.dry_run:
        from expkit.sweeps.estimate import estimate_sweep

        trials = plan_trials(spec)
        gpus, parallel = (opts.gpus, opts.max_parallel) if not _on_backend(opts) else ("none", opts.max_parallel
                                                                                       or max(1, len(trials)))
        est = estimate_sweep(spec, runs_dir, gpus, opts.per_gpu, parallel, smoke_seconds=None)
        return {"dry_run": True, "estimate": est, "sweep": spec.name, "method": spec.method, "slots": slot_desc,
                "warnings": list(spec.notes),  # the CLI adds the output paths every trial writes
                "env": redact_env({**spec.env, **opts.env}),
                "trials": [{"id": f"t{i + 1:04d}", "params": p, "command": build_argv(spec, p)}
                           for i, p in enumerate(trials)],
                "note": "bayes trials are chosen one by one as results arrive" if spec.method == "bayes" else None}
    check_runs_dir(runs_dir)
    hidden = secret_env(spec.env)
    one = len(hidden) == 1
    kept_out = [f"{', '.join(hidden)} from the spec's env: {'is' if one else 'are'} not written to the sweep's state: "
                f"`expkit sweep resume` takes {'it' if one else 'them'} from the environment of its shell"] if hidden else []
    if _on_backend(opts):
        from expkit.sweeps import remote

        _check_backend(opts)
        batch, created = open_sweep(spec, runs_dir, cwd, spec_text)
        result = remote.drive(batch, spec, opts, runs_dir, echo, created)
    else:
        batch, created = open_sweep(spec, runs_dir, cwd, spec_text)
        result = _drive(batch, spec, opts, runs_dir, slots, slot_desc, echo, created)
    result["warnings"] = kept_out + list(result.get("warnings") or [])
    return result


def resume_sweep(name: str, opts: RunOptions, runs_dir: Path | None = None, retry_failed: bool = False,
                 echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    runs_dir = resolve_runs_dir(runs_dir).resolve()
    batch = find_sweep(name, runs_dir)
    spec = parse_spec(batch.meta()["spec"], default_name=batch.name)
    missing = unmask_env(spec)  # secret env values are not kept in the sweep's state: they come from this shell
    told = [missing_warning(missing, "resume again for the trials still to run")] if missing else []
    for w in told:
        (echo or (lambda _m: None))(f"warning: {w}")
    result = _resume(batch, spec, opts, runs_dir, retry_failed, echo)
    result["warnings"] = told + list(result.get("warnings") or [])
    return result


def _resume(batch: Batch, spec: SweepSpec, opts: RunOptions, runs_dir: Path, retry_failed: bool,
            echo: Callable[[str], None] | None) -> dict[str, Any]:
    submitted_to = (batch.meta().get("backend") or {})
    if not _on_backend(opts) and submitted_to.get("name"):  # resume where the sweep was submitted
        opts.backend = submitted_to["name"]
        opts.backend_options = {**submitted_to.get("options", {}), **opts.backend_options}
        opts.max_parallel = opts.max_parallel or submitted_to.get("limit")
    if _on_backend(opts):
        from expkit.sweeps import remote

        remote.check_backend(opts.backend, spec.method)
        _check_backend(opts)
        return remote.drive(batch, spec, opts, runs_dir, echo, False, retry_failed=retry_failed)
    if retry_failed:
        for job in batch.jobs():
            if job["state"] == "failed":
                job["state"] = "pending"
                batch.save_job(job)
    slots, slot_desc = plan_slots(opts.gpus, opts.per_gpu, opts.max_parallel)
    opts.cwd = opts.cwd or Path(batch.meta().get("cwd") or os.getcwd())
    return _drive(batch, spec, opts, runs_dir, slots, slot_desc, echo, False)


def _on_backend(opts: RunOptions) -> bool:
    return (opts.backend or "local").lower() != "local"


def _check_backend(opts: RunOptions) -> None:
    """Options and reachability checked before the sweep writes anything (ExpkitError with a hint)."""
    from expkit import backends
    from expkit.sweeps import remote

    opts.backend = opts.backend.lower()
    backends.ready(opts.backend, **remote.backend_options(opts))  # a bad partition: refused before any record


def find_sweep(name: str, runs_dir: Path) -> Batch:
    batch = Batch(sweeps_root(runs_dir) / name)
    if not batch.exists():
        have = sorted(p.name for p in sweeps_root(runs_dir).glob("*") if (p / "batch.json").exists())
        raise ExpkitError(f"no sweep named {name} in {runs_dir}",
                          f"sweeps here: {', '.join(have)}" if have else "start one with `expkit sweep run SPEC`")
    return batch


def _drive(batch: Batch, spec: SweepSpec, opts: RunOptions, runs_dir: Path, slots: list[Slot], slot_desc: str,
           echo, created: bool) -> dict[str, Any]:
    cwd = Path(opts.cwd or batch.meta().get("cwd") or os.getcwd())
    echo = echo or (lambda _m: None)
    policy = Policy(retries=spec.retries if opts.retries is None else opts.retries,
                    backoff_s=spec.backoff_s if opts.backoff_s is None else opts.backoff_s,
                    oom=spec.oom, same_failures=spec.stop_after_same_failures if opts.same_failures is None
                    else opts.same_failures, metric=spec.metric_name, goal=spec.goal,
                    early_terminate=spec.early_terminate, target=(spec.metric or {}).get("target"))
    first_argv = build_argv(spec, first_trial(spec))
    context = capture_context(first_argv, dict(os.environ), cwd, runs_dir)
    gpu_machine = any(s.gpu_uuid for s in slots) or bool((context.get("gpus") or {}).get("devices"))
    sched = Scheduler(batch, slots, runs_dir=runs_dir, context=context,
                      make_request=sweep_request(spec, batch, opts, runs_dir, gpu_machine), policy=policy,
                      rebuild_argv=lambda job: build_argv(spec, job["params"]), echo=echo)
    if spec.method == "bayes":
        sched.next_job = _bayes_source(spec, batch, cwd, lambda: list(sched.jobs.values()))
    jobs = batch.jobs()
    collisions = shared_output_warnings([j["argv"] for j in jobs], [j["id"] for j in jobs]) if len(slots) > 1 else []
    for w in collisions:
        echo(f"warning: {w}")
    echo(f"sweep {batch.name}: {'new' if created else 'resuming'}, {slot_desc}")
    summary = sched.run()
    return {"sweep": batch.name, "group": batch.name, "state_dir": str(batch.root), "runs_dir": str(runs_dir),
            "slots": slot_desc, "counts": summary.counts, "started": summary.started, "adopted": summary.adopted,
            "requeued": summary.requeued, "stopped_reason": summary.stopped_reason,
            "target_reached": summary.target_reached,
            "warnings": spec.notes + context.get("warnings", []) + collisions,
            "next": {"report": f"expkit sweep report {batch.name}", "status": f"expkit sweep status {batch.name}"}}


def status(batch: Batch, runs_dir: Path) -> dict[str, Any]:
    meta = batch.meta()
    if (meta.get("backend") or {}).get("name"):
        from expkit.sweeps import remote

        remote.sync(batch, runs_dir)
    jobs = batch.jobs()
    rows = []
    for j in jobs:
        tries = [a for a in j["attempts"] if a.get("state") != "prepared"]
        att = tries[-1] if tries else {}
        run_state = None
        if att.get("run_id") and (runs_dir / att["run_id"]).exists():
            run_state = Run(runs_dir / att["run_id"]).status()["state"]
        rows.append({"id": j["id"], "state": j["state"], "params": j.get("params"), "attempts": len(tries),
                     "run_id": att.get("run_id"), "run_state": run_state, "gpu": att.get("gpu_index"), "reason": att.get("reason"),
                     "backend_job_id": att.get("job_id"),
                     "command": " ".join(j["argv"])})
    return {"name": batch.name, "kind": meta.get("kind"), "scheduler_running": batch.scheduler_alive(),
            "backend": (meta.get("backend") or {}).get("name", "local"),
            "counts": counts(jobs), "done": sum(1 for j in jobs if j["state"] in DONE), "total": len(jobs),
            "stopped_reason": meta.get("stopped_reason"), "jobs": rows}


# the plain queue -----------------------------------------------------------------------------------------------
def queue_batch(name: str, runs_dir: Path) -> Batch:
    batch = Batch(queue_root(runs_dir) / plain_name(name, "queue name"))
    if not batch.exists():
        batch.write_meta({"kind": "queue", "name": name})
    return batch


def queue_add(argv: list[str], runs_dir: Path | None, queue: str = "default", name: str | None = None,
              cwd: Path | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    if not argv:
        raise ExpkitError("no command to queue", "put it after --: expkit queue add -- python train.py --lr 0.1")
    plain_name(queue, "queue name")
    if name is not None:
        plain_name(name, "run name")
    red = Redactor()
    if red.argv(argv) != list(argv):  # a queue file is plain JSON beside the runs: no secret goes into it
        raise ExpkitError("the command holds a secret (" + ", ".join(red.names) + ") that would be written in clear "
                          "to the queue's job file",
                          "pass it through an environment variable instead (export it in the shell that runs "
                          "`expkit queue run`, or --env NAME=VALUE) and read it in the script")
    env = dict(env or {})
    for key in [k for k in env if is_secret_name(k)]:
        env[key] = MASK  # taken from the environment of `expkit queue run` when the job starts
    runs_dir = resolve_runs_dir(runs_dir).resolve()
    batch = queue_batch(queue, runs_dir)
    job = batch.add_job_exclusive("j", argv, cwd=str(Path(cwd or os.getcwd()).resolve()), name=name, env=env)
    return job


def queue_run(opts: RunOptions, runs_dir: Path | None, queue: str = "default",
              echo: Callable[[str], None] | None = None) -> dict[str, Any]:
    runs_dir = resolve_runs_dir(runs_dir).resolve()
    batch = Batch(queue_root(runs_dir) / plain_name(queue, "queue name"))
    if not batch.exists() or not batch.job_ids():
        raise ExpkitError(f"the queue {queue} is empty", "add jobs with `expkit queue add -- CMD`")
    check_runs_dir(runs_dir)
    slots, slot_desc = plan_slots(opts.gpus, opts.per_gpu, opts.max_parallel)
    jobs = batch.jobs()
    first = next((j for j in jobs if j["state"] == "pending"), jobs[0])
    context = capture_context(first["argv"], dict(os.environ), Path(first["cwd"]), runs_dir)
    gpu_machine = any(s.gpu_uuid for s in slots) or bool((context.get("gpus") or {}).get("devices"))

    unset = sorted({k for j in jobs for k, v in (j.get("env") or {}).items() if v == MASK and k not in os.environ})
    if unset:  # secrets are never written to the queue: they come from this shell, and here they are missing
        (echo or (lambda _m: None))(f"warning: {', '.join(unset)} not set in this shell: the jobs that were given "
                                    "them with --env start without them (export them and run the queue again)")

    def make(job: dict, slot: Slot) -> LaunchRequest:
        job_env = {k: (os.environ[k] if v == MASK else v) for k, v in (job.get("env") or {}).items()
                   if v != MASK or k in os.environ}
        env = {**opts.env, **job_env, "EXPKIT_QUEUE": queue, "EXPKIT_JOB_ID": job["id"]}
        return job_request(job, slot, group=f"queue-{queue}", env=env, runs_dir=runs_dir, gpu_machine=gpu_machine,
                           wandb_project=opts.wandb_project,
                           record=("queue", {"name": queue, "job_id": job["id"], "wandb_run_id": job["wandb_run_id"]}))

    policy = Policy(retries=opts.retries or 0, backoff_s=30.0 if opts.backoff_s is None else opts.backoff_s,
                    same_failures=3 if opts.same_failures is None else opts.same_failures)
    sched = Scheduler(batch, slots, runs_dir=runs_dir, context=context, make_request=make, policy=policy, echo=echo)
    collisions = shared_output_warnings([j["argv"] for j in jobs], [j["id"] for j in jobs]) if len(slots) > 1 else []
    for w in collisions:
        (echo or (lambda _m: None))(f"warning: {w}")
    (echo or (lambda _m: None))(f"queue {queue}: {slot_desc}")
    summary = sched.run()
    return {"queue": queue, "group": f"queue-{queue}", "state_dir": str(batch.root), "slots": slot_desc,
            "counts": summary.counts, "started": summary.started, "adopted": summary.adopted,
            "requeued": summary.requeued, "stopped_reason": summary.stopped_reason, "warnings": collisions}
