"""`expkit runs diagnose|watch|metrics`: why a run failed, how it is doing, what it measured."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from expkit.cli.options import emit, json_option, runs_dir_option
from expkit.errors import ExpkitError


def _run_or_log(ref: str, runs_dir):
    """A run id/prefix/latest, a run folder, or a plain log file."""
    from expkit.runs.store import MANIFEST, Run, RunStore

    path = Path(ref)
    if path.is_dir() and (path / MANIFEST).exists():
        return Run(path.resolve())
    if path.is_file():
        return path
    if ("/" in ref or ref.endswith((".log", ".txt", ".out", ".err"))) and not path.exists():
        raise ExpkitError(f"log file not found: {ref}", "give an existing log file, or a run id from `expkit runs list`")
    return RunStore(runs_dir).get(ref)


@click.command("diagnose")
@click.argument("target", metavar="ID|LOGFILE")
@click.option("--full", is_flag=True, help="Scan the whole log even when its tail explains the failure.")
@click.option("--stale-after", type=float, default=600, show_default=True,
              help="Seconds without output after which a running run is flagged.")
@runs_dir_option
@json_option
def diagnose(target, full, stale_after, runs_dir, as_json):
    """Explain how a run failed (or what looks wrong): category, evidence lines, confidence, fixes.

    Reads the log, the exit code/signal and the resource samples. Exit code 1 when an error was found.

    Example:

    \b
        expkit runs diagnose latest --json
        expkit runs diagnose slurm-1234.out
    """
    from expkit.monitor.diagnose import diagnose as do_diagnose
    from expkit.monitor.render import render_text

    result = do_diagnose(_run_or_log(target, runs_dir), full=full, stale_after=stale_after)
    emit(result, as_json, lambda: click.echo("\n".join(render_text(result))))
    cause = result.get("cause")
    sys.exit(1 if cause and cause["severity"] == "error" else 0)


@click.command("watch")
@click.argument("run_id")
@click.option("--interval", type=float, default=5.0, show_default=True, help="Seconds between updates.")
@click.option("--once", is_flag=True, help="Print one status line and exit.")
@click.option("--timeout", type=float, help="Stop watching after this many seconds (exit 124; the run goes on).")
@runs_dir_option
@json_option
def watch(run_id, interval, once, timeout, runs_dir, as_json):
    """Follow a run live: step/epoch, loss trend, it/s, ETA, GPU and memory; the diagnosis when it ends.

    On a terminal the status line updates in place; otherwise (pipes, agents) a plain line is printed when
    something changed (state, step, epoch, loss, an eval value, the run going silent), not every interval.
    With --json: one JSON object per change, the last one {"event": "ended", "diagnosis": ...}.
    Exits when the run ends, with 0 if it succeeded and 1 otherwise.

    Example:

        expkit runs watch latest --interval 10
    """
    from expkit.monitor.diagnose import diagnose as do_diagnose
    from expkit.monitor.render import render_text
    from expkit.monitor.watch import change_key, render, snapshot
    from expkit.runs.store import TERMINAL, RunStore

    run = RunStore(runs_dir).get(run_id)
    tty = sys.stdout.isatty() and not as_json
    deadline = None if timeout is None else time.monotonic() + timeout
    interval = max(0.1, interval)
    last_len = 0
    last_key = None
    from expkit.sigint import ctrl_c_stops

    with ctrl_c_stops():  # Ctrl-C stops watching (not the run), also when started in the background
        while True:
            snap = snapshot(run)
            ended = snap["state"] in TERMINAL
            key = change_key(snap)
            changed, last_key = key != last_key, key
            if as_json:
                if changed or once:
                    click.echo(json.dumps({"event": "status", **snap}, default=str))
            elif tty:
                import shutil

                line = render(snap)[: shutil.get_terminal_size().columns - 1]  # a wrapped line cannot be redrawn
                click.echo("\r" + line + " " * max(0, last_len - len(line)), nl=False)
                last_len = len(line)
            elif changed or once:
                click.echo(f"[{snap['t'][11:19]}] {render(snap)}")
            if ended or once:
                break
            if deadline is not None and time.monotonic() >= deadline:
                if tty:
                    click.echo("")
                raise ExpkitError(f"run {run.id} is still {snap['state']} after {timeout:g}s",
                                  f"watch again later: expkit runs watch {run.id}", exit_code=124)
            wait_until = time.monotonic() + interval
            while time.monotonic() < wait_until:  # wake early when the run ends
                time.sleep(min(0.2, interval))
                if run.state() in TERMINAL:
                    break
    if tty:
        click.echo("")
    if once and not ended:
        return
    result = do_diagnose(run)
    if as_json:
        click.echo(json.dumps({"event": "ended", "state": result["state"], "diagnosis": result}, default=str))
    else:
        click.echo("\n".join(render_text(result)))
    sys.exit(0 if result["state"] == "succeeded" else 1)


@click.command("metrics")
@click.argument("run_id")
@click.option("--source", type=click.Choice(["auto", "wandb", "wandb-online", "jsonl", "log"]), default="auto",
              show_default=True, help="Where to read metrics from (auto: the first that has any).")
@runs_dir_option
@json_option
def metrics(run_id, source, runs_dir, as_json):
    """Latest and best value of each metric a run logged, and where they were read from.

    Sources: the run's W&B offline folder, W&B online (with WANDB_API_KEY), metrics.jsonl in the run dir,
    or values parsed from the log (loss=..., acc: ..., tqdm postfix) as a last resort.

    Example:

        expkit runs metrics latest --json
    """
    from expkit.cli.runs import render_wandb
    from expkit.monitor.metrics import read_metrics
    from expkit.runs.store import RunStore

    run = RunStore(runs_dir).get(run_id)
    result = read_metrics(run, source)

    def text():
        if not result["metrics"]:
            click.echo(f"{run.id}: no metrics found")
            for t in result["tried"]:
                click.echo(f"  tried {t}")
            for line in render_wandb(result["wandb"]):
                click.echo(line)
            return
        click.echo(f"{run.id}: metrics from {result['source']} ({result['detail']})")
        for line in render_wandb(result["wandb"]):
            click.echo(line)
        click.echo(f"  {'METRIC':<28} {'LATEST':>12} {'BEST':>12} {'BEST AT':>11} {'N':>6}")
        for name, m in sorted(result["metrics"].items()):
            best = "-" if m["best"] is None else f"{m['best']:.6g}"
            at = "-" if m["best_step"] is None else str(m["best_step"])
            if m.get("best_epoch") is not None:
                at = f"{at} e{m['best_epoch']:g}" if m["best_step"] is not None else f"epoch {m['best_epoch']:g}"
            click.echo(f"  {name[:28]:<28} {m['latest']:>12.6g} {best:>12} {at:>11} {m['count']:>6}")

    emit(result, as_json, text)
    if not result["metrics"] and source != "auto":
        sys.exit(1)
