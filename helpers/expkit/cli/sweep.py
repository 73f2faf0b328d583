"""`expkit sweep ...`: run, resume, status, export, report, estimate."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from expkit.cli.backendopts import backend_options, collect
from expkit.cli.options import emit, json_option, runs_dir_option, warn
from expkit.errors import ExpkitError


@click.group()
def sweep():
    """Hyperparameter sweeps on a GPU-aware local queue (expkit YAML or a W&B sweep.yaml as it is)."""


env_option = click.option("--env", "env_pairs", multiple=True, metavar="K=V",
                          help="Environment variable for every trial (repeatable; added to the spec's env:).")


def _scheduling_options(fn):
    fn = click.option("--gpus", help="auto (every GPU, the default), indices like 0,1,2,3, or none for CPU only. "
                      "With --backend slurm: GPUs per trial (1, or a100:1).")(fn)
    fn = click.option("--per-gpu", type=int, default=1, show_default=True, help="Jobs sharing one GPU.")(fn)
    fn = click.option("--max-parallel", type=int, help="At most this many jobs at once (CPU only: default 1; "
                      "on Slurm the job array's %K limit).")(fn)
    fn = click.option("--retries", type=int, help="Extra attempts for a failed trial (default: the spec's, else 0).")(fn)
    fn = click.option("--backoff", "backoff_s", type=float, help="Seconds before the first retry, doubled after.")(fn)
    fn = click.option("--stop-after-same-failures", "same_failures", type=int,
                      help="Stop when the first N finished trials fail the same way (0: never; default 3).")(fn)
    return fn


def _echo_progress(as_json: bool):
    return (lambda msg: click.echo(msg, err=True)) if not as_json else None


def _render(result: dict) -> None:
    c = result["counts"]
    parts = [f"{v} {k.replace('_', ' ')}" for k, v in c.items() if v]
    click.echo(f"sweep {result['sweep']}: " + (", ".join(parts) or "no trials"))
    if result.get("detached"):
        click.echo(f"  submitted to {result['backend']}: {len(result['submitted'])} trial(s); "
                   f"follow: expkit sweep status {result['sweep']}")
    if result.get("adopted") or result.get("requeued"):
        click.echo(f"  resumed: {result['adopted']} still-running run(s) adopted, {result['requeued']} lost run(s) "
                   "queued again")
    if result.get("stopped_reason"):
        click.echo(f"  stopped: {result['stopped_reason']}")
    click.echo(f"  report:  expkit sweep report {result['sweep']}")


def _exit(result: dict) -> None:
    if (result.get("stopped_reason") and not result.get("target_reached")) or result["counts"].get("failed"):
        sys.exit(1)


@sweep.command("run")
@click.argument("spec_path", metavar="SPEC", type=click.Path(path_type=Path))
@_scheduling_options
@click.option("--dry-run", is_flag=True, help="Print the trials and their commands; start nothing.")
@click.option("--wandb-project", help="Log each trial to this W&B project (default: the spec's project).")
@env_option
@backend_options
@click.option("--detach", is_flag=True, help="With --backend slurm: return once the trials are submitted "
              "(follow them with `expkit sweep status NAME`).")
@runs_dir_option
@json_option
def run(spec_path, gpus, per_gpu, max_parallel, retries, backoff_s, same_failures, dry_run, wandb_project,
        env_pairs, backend, partition, account, time_limit, cpus, mem, detach, runs_dir, as_json):
    """Run a sweep: every trial an expkit run in the sweep's group, GPUs leased one job each.

    Re-running the same command resumes the sweep: finished trials are not run again, lost ones are.
    Exits 1 when a trial failed or the sweep stopped on systematic failures.

    With --backend slurm the pending trials go to Slurm as one job array, --max-parallel of them at once
    (--array=0-N%K), and --gpus is the GPU count per trial; the command follows them to the end unless
    --detach. Failed trials are not retried on Slurm: `expkit sweep resume NAME --retry-failed` resubmits them.

    Example:

        expkit sweep run sweep.yaml --gpus 0,1,2,3 --dry-run

        expkit sweep run sweep.yaml --backend slurm --partition gpu --gpus 1 --time 2:00:00 --max-parallel 8

    A spec (W&B's sweep.yaml works as it is):

    \b
        name: lr-sweep
        method: grid            # grid | random | bayes (needs optuna)
        metric: {name: val_loss, goal: minimize}
        parameters:
          lr: {values: [0.1, 0.01, 0.001]}
          dropout: {distribution: uniform, min: 0.0, max: 0.5}
        max_trials: 12
        command: python train.py --lr ${lr} --dropout ${dropout}
    """
    from expkit.sweeps.spec import load_spec
    from expkit.sweeps.sweep import RunOptions, run_sweep

    backend, options = collect(backend, partition, account, time_limit, cpus, mem)
    if detach and backend == "local":
        raise ExpkitError("--detach only applies to --backend slurm",
                          "a local sweep needs its scheduler running: start it in the background, e.g. with nohup")
    from expkit.runs.launch import parse_env_pairs

    spec = load_spec(spec_path)
    opts = RunOptions(gpus=gpus, per_gpu=per_gpu, max_parallel=max_parallel, dry_run=dry_run, retries=retries,
                      backoff_s=backoff_s, same_failures=same_failures, wandb_project=wandb_project,
                      backend=backend, backend_options=options, detach=detach, env=parse_env_pairs(list(env_pairs)))
    result = run_sweep(spec, opts, runs_dir, spec_text=spec_path.read_text(encoding="utf-8"),
                       echo=_echo_progress(as_json))
    if dry_run:
        from pathlib import Path

        from expkit.runs.outputs import fixed_output_warnings

        first = result["trials"][0]["command"] if result["trials"] else []
        result["warnings"] = result.get("warnings", []) + [f"every trial: {w}"
                                                           for w in fixed_output_warnings(first, Path.cwd())]

        def text():
            click.echo(f"sweep {result['sweep']} ({result['method']}): {len(result['trials'])} trial(s); "
                       f"{result['slots']}")
            if result.get("env"):
                click.echo("  env: " + " ".join(f"{k}={v}" for k, v in result["env"].items()))
            for w in result["warnings"]:
                click.echo(f"  warning: {w}")
            for t in result["trials"]:
                click.echo(f"  {t['id']}  {' '.join(t['command'])}")
            if result.get("note"):
                click.echo(f"  note: {result['note']}")
            from expkit.sweeps.estimate import render_text

            click.echo(render_text(result["estimate"]))

        emit(result, as_json, text)
        return
    if not as_json:
        for w in result["warnings"]:
            warn(w)
    emit(result, as_json, lambda: _render(result))
    _exit(result)


@sweep.command("resume")
@click.argument("name")
@_scheduling_options
@click.option("--retry-failed", is_flag=True, help="Also run the trials that failed again.")
@click.option("--detach", is_flag=True, help="On Slurm: return once the pending trials are submitted.")
@runs_dir_option
@json_option
def resume(name, gpus, per_gpu, max_parallel, retries, backoff_s, same_failures, retry_failed, detach, runs_dir,
           as_json):
    """Resume a sweep after its scheduler was killed or the machine rebooted.

    Finished trials stay finished, runs still going are adopted, lost ones run again with the same trial id,
    seed and W&B run id (WANDB_RUN_ID + WANDB_RESUME=allow). A sweep submitted to Slurm is resumed there with
    the same options: trials still queued or running are followed, pending ones are submitted as a new array.

    Example:

        expkit sweep resume lr-sweep --gpus auto
    """
    from expkit.sweeps.sweep import RunOptions, resume_sweep

    opts = RunOptions(gpus=gpus, per_gpu=per_gpu, max_parallel=max_parallel, retries=retries, backoff_s=backoff_s,
                      same_failures=same_failures, detach=detach)
    result = resume_sweep(name, opts, runs_dir, retry_failed=retry_failed, echo=_echo_progress(as_json))
    emit(result, as_json, lambda: _render(result))
    _exit(result)


@sweep.command("status")
@click.argument("name")
@runs_dir_option
@json_option
def status(name, runs_dir, as_json):
    """Show a sweep's trials: state, attempts, GPU, run id.

    Example:

        expkit sweep status lr-sweep --json
    """
    from expkit.runs.store import resolve_runs_dir
    from expkit.sweeps.sweep import find_sweep, status as sweep_status

    root = resolve_runs_dir(runs_dir).resolve()
    result = sweep_status(find_sweep(name, root), root)
    emit(result, as_json, lambda: render_status(result))


def render_status(result: dict) -> None:
    alive = "scheduler running" if result["scheduler_running"] else "no scheduler running"
    if result.get("backend", "local") != "local":
        alive = f"on {result['backend']}"
    click.echo(f"{result['name']}: {result['done']}/{result['total']} done ({alive})")
    if result.get("stopped_reason"):
        click.echo(f"  stopped: {result['stopped_reason']}")
    click.echo(f"  {'ID':<7} {'STATE':<14} {'TRIES':<5} {'GPU':<4} {'RUN':<40} PARAMS")
    for j in result["jobs"]:
        params = " ".join(f"{k}={v}" for k, v in (j["params"] or {}).items()) or j["command"][:50]
        gpu = "-" if j["gpu"] is None else j["gpu"]
        state = j["state"]
        if state == "running" and j.get("run_state") not in (None, "running"):
            state = f"run {j['run_state']}"  # the scheduler is gone: what the run itself says
        click.echo(f"  {j['id']:<7} {state:<14} {j['attempts']:<5} {gpu!s:<4} {j['run_id'] or '-':<40} {params}")
    if result.get("backend", "local") != "local":
        if result["counts"].get("pending", 0):
            click.echo(f"  pending trials were never submitted: `expkit sweep resume {result['name']}` submits them")
    elif not result["scheduler_running"] and result["counts"].get("pending", 0) + result["counts"].get("running", 0):
        again = "expkit queue run" if result.get("kind") == "queue" else f"expkit sweep resume {result['name']}"
        click.echo(f"  unfinished and no scheduler: `{again}` continues it")


@sweep.command("export")
@click.argument("spec_path", metavar="SPEC", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write here instead of stdout.")
@json_option
def export(spec_path, output, as_json):
    """Write a sweep spec in W&B's sweep format (for `wandb sweep`).

    Example:

        expkit sweep export sweep.yaml -o wandb_sweep.yaml
    """
    import yaml

    from expkit.fsutil import atomic_write_text
    from expkit.sweeps.spec import load_spec, to_wandb

    config, notes = to_wandb(load_spec(spec_path))
    text = yaml.safe_dump(config, sort_keys=False)
    if output:
        atomic_write_text(output, text)
    if as_json:
        emit({"config": config, "notes": notes, "output": str(output) if output else None}, True)
        return
    for n in notes:
        warn(n)
    click.echo(f"wrote {output}" if output else text.rstrip())


@sweep.command("report")
@click.argument("name")
@click.option("--metric", help="Metric to rank by (default: the spec's).")
@click.option("--goal", type=click.Choice(["minimize", "maximize"]), help="Default: the spec's, else minimize.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Where to write the PNG plots "
              "(default: <runs dir>/.sweeps/NAME/report).")
@click.option("--no-plots", is_flag=True, help="Only the table and the suggestions.")
@runs_dir_option
@json_option
def report(name, metric, goal, out_dir, no_plots, runs_dir, as_json):
    """The sweep's table (best first), plots of the metric against each parameter, and what to try next.

    Example:

        expkit sweep report lr-sweep --metric val_loss
    """
    from expkit.analysis.report import render_text, sweep_report
    from expkit.runs.store import resolve_runs_dir

    result = sweep_report(name, resolve_runs_dir(runs_dir).resolve(), metric=metric, goal=goal, out_dir=out_dir,
                          plots=not no_plots)
    emit(result, as_json, lambda: click.echo(render_text(result)))


@sweep.command("estimate")
@click.argument("spec_path", metavar="SPEC", type=click.Path(path_type=Path))
@click.option("--gpus", help="auto, indices like 0,1, or none (as for `sweep run`).")
@click.option("--per-gpu", type=int, default=1, show_default=True)
@click.option("--max-parallel", type=int)
@click.option("--smoke-seconds", type=float, default=20.0, show_default=True,
              help="Without past runs of this command: time one trial for this long to extrapolate.")
@click.option("--no-smoke", is_flag=True, help="Never run a smoke trial; report unknown instead.")
@env_option
@runs_dir_option
@json_option
def estimate(spec_path, gpus, per_gpu, max_parallel, smoke_seconds, no_smoke, env_pairs, runs_dir, as_json):
    """Estimate GPU-hours, wall time on the available slots, and disk before launching a sweep.

    From past runs of the same command when there are any, otherwise from a short timed smoke run.
    Exits 1 with the smoke run's diagnosis when the smoke run fails (there is nothing to estimate from).

    Example:

        expkit sweep estimate sweep.yaml --gpus 0,1
    """
    from expkit.runs.store import resolve_runs_dir
    from expkit.sweeps.estimate import estimate_sweep, render_text
    from expkit.sweeps.spec import load_spec

    from expkit.runs.launch import parse_env_pairs

    result = estimate_sweep(load_spec(spec_path), resolve_runs_dir(runs_dir).resolve(), gpus=gpus, per_gpu=per_gpu,
                            max_parallel=max_parallel, smoke_seconds=None if no_smoke else smoke_seconds,
                            env=parse_env_pairs(list(env_pairs)))
    emit(result, as_json, lambda: click.echo(render_text(result)))
    if result["per_trial"].get("failed"):
        sys.exit(1)


@sweep.command("job", hidden=True)
@click.argument("state_dir", type=click.Path(path_type=Path))
@click.argument("job_id")
@env_option
@runs_dir_option
def job(state_dir, job_id, env_pairs, runs_dir):
    """Run one job of a batch as an expkit run in the foreground (what a script of `expkit schedule` calls)."""
    from expkit.runs.launch import parse_env_pairs
    from expkit.runs.store import resolve_runs_dir
    from expkit.sweeps.schedule import run_job

    code = run_job(state_dir.resolve(), job_id, resolve_runs_dir(runs_dir).resolve(), parse_env_pairs(list(env_pairs)),
                   echo=click.echo)
    sys.exit(code)
