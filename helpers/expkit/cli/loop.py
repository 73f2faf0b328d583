"""`expkit loop ...`: an autonomous research loop: try a change with K seeds, keep it only if it really helps."""

from __future__ import annotations

import click

from expkit.cli.backendopts import backend_options, collect
from expkit.cli.options import emit, json_option, runs_dir_option


def _echo(as_json: bool):
    return None if as_json else (lambda msg: click.echo(msg, err=True))


def _fmt(x, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


@click.group()
def loop():
    """An autonomous research loop: each change runs K seeds within a budget and is kept only if it beats the
    best commit by --min-delta with a significant one-sided t-test; everything else is reset."""


@loop.command("init", context_settings={"ignore_unknown_options": False})
@click.argument("name")
@click.option("--metric", required=True, help="The metric to optimise, as the script reports it (val_bpb).")
@click.option("--goal", required=True, type=click.Choice(["min", "max"]), help="min for a loss, max for an accuracy.")
@click.option("--budget", default="5m", show_default=True,
              help="Wall time per run (300, 90s, 5m, 1h): SIGTERM then, SIGKILL after --grace.")
@click.option("--grace", default="30s", show_default=True,
              help="After the budget's SIGTERM, time to print the metric before SIGKILL (Slurm: its KillWait).")
@click.option("--seeds", type=int, default=3, show_default=True, help="K: seeds per trial (the same K seeds each time).")
@click.option("--protect", multiple=True, metavar="PATH",
              help="A file or folder the loop may never change, e.g. the evaluation (repeatable).")
@click.option("--min-delta", type=float, default=0.0, show_default=True,
              help="The smallest improvement worth keeping, in the metric's units.")
@click.option("--alpha", type=float, default=0.05, show_default=True, help="Level of the one-sided t-test.")
@click.option("--metric-regex", help=r"Read the metric from the log with this regex (group 1), e.g. 'bpb ([0-9.]+)'.")
@click.option("--gpus", help="auto (default: every free GPU), indices like 0,1, or none for CPU slots.")
@backend_options
@runs_dir_option
@json_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def init(name, metric, goal, budget, grace, seeds, protect, min_delta, alpha, metric_regex, gpus, backend, partition,
         account, time_limit, cpus, mem, runs_dir, as_json, command):
    """Start loop NAME on a new branch loop/NAME and run the baseline with K seeds.

    Example:

        expkit loop init lr --metric val_loss --goal min --budget 5m --seeds 3 --protect eval.py -- python train.py
    """
    from expkit.loop import api

    backend, options = collect(backend, partition, account, time_limit, cpus, mem)
    out = api.init(name, list(command), metric=metric, goal=goal, budget=budget, seeds=seeds, protect=list(protect),
                   min_delta=min_delta, alpha=alpha, gpus=gpus, grace=grace, metric_regex=metric_regex,
                   backend=backend, backend_options=options, runs_dir=runs_dir, echo=_echo(as_json))
    b = out["baseline"]
    if not as_json:
        for warning in out.get("warnings", []):
            click.echo(f"warning: {warning}", err=True)
    emit(out, as_json, f"loop {name} on branch {out['branch']}: baseline {metric} = {_fmt(b['mean'])} "
                       f"(95% CI {_fmt(b['ci95'][0])} .. {_fmt(b['ci95'][1])}, seed sd {_fmt(out['noise_floor'])})\n"
                       f"next: {out['next']}")


@loop.command("try")
@click.argument("name")
@click.option("-m", "--message", required=True, help="What changed (the commit message and the ledger's description).")
@runs_dir_option
@json_option
@click.pass_context
def try_(ctx, name, message, runs_dir, as_json):
    """Commit the working-tree change, run its K seeds, keep it or reset to the best commit.

    Exit 0 for keep or discard, 1 for a crash (recorded, and reset), 2 when refused (nothing run).

    Example:

        expkit loop try lr -m "cosine schedule" --json
    """
    from expkit.loop import api

    out = api.try_change(name, message, runs_dir=runs_dir, echo=_echo(as_json))
    emit(out, as_json, lambda: _print_try(out))
    if not as_json:
        for warning in out.get("warnings", []):
            click.echo(f"warning: {warning}", err=True)
    if out["decision"] == "crash":
        ctx.exit(1)


def _print_try(out) -> None:
    from expkit.loop.stats import format_p

    best = out["best"]
    if out["decision"] == "crash":
        click.echo(f"trial {out['trial']}: CRASH, reset to {best['commit'][:7]}: {out['reason']}")
        return
    ci = out["delta_ci95"] or [None, None]
    k = len(out["values"])
    ref = out.get("reference_values")
    again = f" ({_fmt(out['mean'])} over all {len(ref)} runs with its reference seeds)" if ref and len(ref) > k else ""
    click.echo(f"trial {out['trial']}: {out['decision'].upper()} {out['metric']} = "
               f"{_fmt(sum(out['values']) / k)} on {k} seeds{again}, "
               f"improvement {_fmt(out['delta'])} (95% CI {_fmt(ci[0])} .. {_fmt(ci[1])}, p={format_p(out['p_value'])})"
               f": {out['reason']}")
    click.echo(f"best: {best['commit'][:7]} {out['metric']} = {_fmt(best['mean'])} ({best['description']})")


@loop.command("status")
@click.argument("name")
@runs_dir_option
@json_option
def status(name, runs_dir, as_json):
    """Best commit and metric (mean and 95% CI), trials, keeps/discards/crashes, compute spent, noise floor.

    Example:

        expkit loop status lr --json
    """
    from expkit.loop import api
    from expkit.timeutil import human_duration

    out = api.status(name, runs_dir=runs_dir)

    def text():
        best, base = out["best"] or {}, out["baseline"] or {}
        click.echo(f"loop {name} ({out['metric']}, {out['goal']}) on {out['branch']}")
        if best:
            click.echo(f"best: {best['commit'][:7]} {_fmt(best['mean'])} (95% CI {_fmt(best['ci95'][0])} .. "
                       f"{_fmt(best['ci95'][1])}): {best['description']}")
        if base:
            click.echo(f"baseline: {_fmt(base['mean'])}")
        click.echo(f"trials: {out['trials']} ({out['keeps']} kept, {out['discards']} discarded, "
                   f"{out['crashes']} crashed); compute {human_duration(out['compute_s'])}")
        click.echo(f"noise floor: seed sd {_fmt(out['noise_floor']['pooled_sd'])} (df {out['noise_floor']['df']})")
        if out["in_progress"]:
            click.echo(f"trial {out['in_progress']['trial']} is in progress or was interrupted: "
                       f"`expkit loop resume {name}` finishes it")

    emit(out, as_json, text)


@loop.command("resume")
@click.argument("name")
@runs_dir_option
@json_option
@click.pass_context
def resume(ctx, name, runs_dir, as_json):
    """Finish a trial whose `loop try` was killed: adopt its runs, decide once, make branch and ledger agree.

    Example:

        expkit loop resume lr --json
    """
    from expkit.loop import api

    out = api.resume(name, runs_dir=runs_dir, echo=_echo(as_json))
    if out.get("resumed") is None or "decision" not in out:
        emit(out, as_json, out.get("note"))
        return
    emit(out, as_json, lambda: _print_try(out))
    if out["decision"] == "crash":
        ctx.exit(1)


@loop.command("report")
@click.argument("name")
@click.option("--confirm", type=int, default=0, show_default=True,
              help="Run best and baseline again with K fresh seeds each and compare them (0: skip).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Folder for FINDINGS.md and progress.png "
              "(default: the loop's state folder, outside the git tree).")
@runs_dir_option
@json_option
def report(name, confirm, out_dir, runs_dir, as_json):
    """Write the loop's findings page: progress plot, kept changes with deltas and CIs, a fresh-seed confirmation.

    Example:

        expkit loop report lr --confirm 5
    """
    from expkit.loop.report import write_report

    out = write_report(name, confirm=confirm, out_dir=out_dir, runs_dir=runs_dir, echo=_echo(as_json))
    emit(out, as_json, f"wrote {out['findings']} and {out['plot']}")
