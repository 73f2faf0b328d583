"""`expkit runs ...`: list, show, logs, stop, wait, reproduce."""

from __future__ import annotations

import importlib
import json
import sys

import click

from expkit.cli.options import emit, json_option, runs_dir_option, warn
from expkit.errors import ExpkitError
from expkit.runs.store import RunStore
from expkit.timeutil import human_ago, human_duration


# Subcommands of `expkit runs` that live in other modules: name -> (module, attribute). Loaded on use.
RUNS_EXTRA: dict[str, tuple[str, str]] = {
    "diagnose": ("expkit.cli.monitor", "diagnose"),
    "watch": ("expkit.cli.monitor", "watch"),
    "metrics": ("expkit.cli.monitor", "metrics"),
    "sync": ("expkit.cli.backends", "sync"),
    "compare": ("expkit.cli.compare", "compare"),
    "classification": ("expkit.cli.compare", "classification"),
}


class RunsGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | set(RUNS_EXTRA))

    def get_command(self, ctx, name):
        if name in RUNS_EXTRA:
            module, attr = RUNS_EXTRA[name]
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


@click.group(cls=RunsGroup)
def runs():
    """List, inspect, follow, stop, wait for and reproduce runs.

    A run ID is the full id, a unique prefix of it, or `latest`.
    """


def _summary(run) -> dict:
    st = run.status()
    return {"run_id": run.id, "state": st["state"], "started_at": st.get("started_at"),
            "ended_at": st.get("ended_at"), "duration_s": st.get("duration_s"), "command": st.get("command"),
            "exit_code": st.get("exit_code"), "signal": st.get("signal_name"), "group": st.get("group"),
            "reason": st.get("reason")}


@runs.command("list")
@click.option("--state", "states", multiple=True, help="Only runs in this state (repeatable).")
@click.option("--group", help="Only runs of this group (a sweep, a plan).")
@click.option("-n", "--limit", type=int, help="At most this many runs.")
@runs_dir_option
@json_option
def list_runs(states, group, limit, runs_dir, as_json):
    """List runs, newest first.

    Example:

        expkit runs list --state running
    """
    store = RunStore(runs_dir)
    rows = [_summary(r) for r in store.all()]
    if states:
        rows = [r for r in rows if r["state"] in states]
    if group:
        rows = [r for r in rows if r["group"] == group]
    if limit:
        rows = rows[:limit]
    problems = [f"run {r['run_id']}: {r['reason']}" for r in rows if r["state"] == "unknown"]
    if not as_json:
        for p in problems:
            warn(p + " (listed as unknown)")

    def text():
        if not rows:
            click.echo(f"no runs in {store.root}")
            return
        click.echo(f"{'ID':<36} {'STATE':<10} {'STARTED':<12} {'DURATION':<9} {'EXIT':<8} COMMAND")
        for r in rows:
            code = r["exit_code"] if r["exit_code"] is not None else (r["signal"] or "-")
            cmd = (r["command"] or "")[:60]
            click.echo(f"{r['run_id']:<36} {r['state']:<10} {human_ago(r['started_at']):<12} "
                       f"{human_duration(r['duration_s']):<9} {str(code):<8} {cmd}")

    emit({"runs_dir": str(store.root), "runs": rows, "warnings": problems}, as_json, text)


@runs.command("show")
@click.argument("run_id")
@runs_dir_option
@json_option
def show(run_id, runs_dir, as_json):
    """Show a run's manifest and status.

    Example:

        expkit runs show latest --json
    """
    from expkit.monitor import resources

    from expkit.monitor.metrics import wandb_identity

    run = RunStore(runs_dir).get(run_id)
    m, st = run.manifest(), run.status()
    if isinstance(m.get("config"), dict) and m["config"].get("values") is not None:  # runs recorded before redaction
        from expkit.redact import Redactor

        m["config"]["values"] = Redactor().obj(m["config"]["values"])
    sample = (resources.latest(run.path, 1) or [None])[0]
    wb = wandb_identity(run, manifest=m)

    def text():
        click.echo(f"run       {run.id}")
        click.echo(f"state     {st['state']}" + (f"  ({st['reason']})" if st.get("reason") else ""))
        if st.get("note"):
            click.echo(f"note      {st['note']}")
        if not m:
            click.echo("manifest  missing or unreadable (manifest.json)")
        cmd = m.get("command") or {}
        click.echo(f"command   {cmd.get('shell', '?')}")
        click.echo(f"cwd       {cmd.get('cwd', '?')}")
        click.echo(f"started   {human_ago(st.get('started_at'))}   duration {human_duration(st.get('duration_s'))}")
        if st.get("pid"):
            click.echo(f"pid       {st['pid']}")
        if st["state"] not in ("running", "queued"):
            code = st.get("exit_code") if st.get("exit_code") is not None else st.get("signal_name", "-")
            click.echo(f"exit      {code}")
        git = m.get("git") or {}
        if git.get("is_repo"):
            dirty = " (dirty: git.patch saved)" if git.get("dirty") else ""
            click.echo(f"git       {(git.get('commit') or 'no commit')[:12]} on {git.get('branch') or 'detached'}{dirty}")
        else:
            click.echo("git       not a git repository")
        sd = m.get("seed") or {}  # a damaged manifest shows as unknown, never a crash
        click.echo(f"seed      {sd['value'] if sd.get('value') is not None else 'unknown'} "
                   f"({sd.get('how') or sd.get('source', '?')})")
        py = m.get("python") or {}
        pk = py.get("packages") or {}
        extras = ", ".join(f"{k} {v}" for k, v in pk.items() if k in ("torch", "numpy", "wandb", "transformers"))
        cuda = f", CUDA {py['torch_cuda']}" if py.get("torch_cuda") else ""
        click.echo(f"python    {py.get('version', '?')} at {py.get('executable', '?')}" + (f" [{extras}{cuda}]" if extras else ""))
        gpus = m.get("gpus") or {}
        names = ", ".join(d.get("name", "?") for d in gpus.get("devices", [])) or f"none ({gpus.get('reason')})"
        click.echo(f"gpus      {names}; CUDA_VISIBLE_DEVICES={gpus.get('cuda_visible_devices')}")
        if m.get("config"):
            click.echo(f"config    {m['config']['source']} (copy: {m['config']['copy']})")
        click.echo(f"log       {run.log_path}")
        for line in render_wandb(wb):
            click.echo(line)
        if sample:
            peak = (st.get("resources") or {}).get("peak_rss_mib")
            click.echo(f"resources {resources.describe(sample)} ({human_ago(sample.get('t'))})"
                       + (f"; peak rss {peak / 1024:.2f} GiB" if peak else ""))

    emit({"run_id": run.id, "run_dir": str(run.path), "status": st, "manifest": m, "resources": sample, "wandb": wb},
         as_json, text)


def render_wandb(wb: dict | None) -> list[str]:
    """Lines naming the W&B run: id and where it is, how to upload it, how to continue it."""
    if not wb:
        return []
    state = f", {wb['state']}" if wb.get("state") else ""
    lines = [f"wandb     run {wb['id']} ({wb['mode']}{state})" + (f"  {wb['url']}" if wb.get("url") else "")]
    if wb["mode"] == "offline":
        lines.append(f"          dir    {wb['dir']}")
        lines.append(f"          sync   {wb['sync_command']}")
    lines.append(f"          resume {wb['resume']}" + ("  (after wandb sync)" if wb["mode"] == "offline" else ""))
    return lines


@runs.command("logs")
@click.argument("run_id")
@click.option("-n", "--lines", "n", type=int, default=50, show_default=True, help="Lines from the end.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until the run ends.")
@runs_dir_option
def logs(run_id, n, follow, runs_dir):
    """Print the end of a run's log (stdout and stderr).

    Example:

        expkit runs logs latest -n 100 --follow
    """
    from expkit.runs.control import follow as follow_log, tail_lines

    run = RunStore(runs_dir).get(run_id)
    if not run.log_path.exists() and not follow:
        raise ExpkitError(f"run {run.id} has no log yet ({run.log_path})", "it may still be queued: try again shortly")
    from contextlib import nullcontext

    from expkit.sigint import ctrl_c_stops

    offset = run.log_path.stat().st_size if run.log_path.exists() else 0
    with ctrl_c_stops() if follow else nullcontext():  # Ctrl-C stops following, also in the background of a script
        for line in tail_lines(run.log_path, n):
            click.echo(line)
        if follow:
            for chunk in follow_log(run, offset):
                sys.stdout.write(chunk)
                sys.stdout.flush()


@runs.command("stop")
@click.argument("run_id")
@click.option("--grace", type=float, default=10.0, show_default=True,
              help="Seconds between SIGTERM and SIGKILL.")
@runs_dir_option
@json_option
def stop(run_id, grace, runs_dir, as_json):
    """Stop a run: SIGTERM to its whole process tree, SIGKILL after the grace period.

    Example:

        expkit runs stop latest --grace 30
    """
    from expkit.runs.control import stop as do_stop

    run = RunStore(runs_dir).get(run_id)
    result = do_stop(run, grace)

    def text():
        if result["already_ended"]:
            click.echo(f"{run.id} had already ended ({result['state']})")
        else:
            sent = " then ".join(result["signals"]) or "no signal needed"
            click.echo(f"stopped {run.id} ({sent}); state: {result['state']}")

    emit(result, as_json, text)


@runs.command("wait")
@click.argument("run_id")
@click.option("--timeout", type=float, help="Give up after this many seconds (exit 124).")
@runs_dir_option
@json_option
def wait(run_id, timeout, runs_dir, as_json):
    """Wait for a run to end; the exit code mirrors the run's (128+N for a signal, 124 on timeout).

    Example:

        expkit runs wait latest --timeout 3600
    """
    from expkit.runs.control import exit_code_of, wait as do_wait
    from expkit.sigint import ctrl_c_stops

    run = RunStore(runs_dir).get(run_id)
    try:
        with ctrl_c_stops():  # Ctrl-C stops waiting (not the run), also when started in the background
            st = do_wait(run, timeout)
    except TimeoutError:
        state = run.state()
        if as_json:  # still one JSON object on stdout, so a caller reading it learns the run is alive
            click.echo(json.dumps({"run_id": run.id, "state": state, "timed_out": True, "timeout_s": timeout,
                                   "wait_exit_code": 124}))
        raise ExpkitError(f"run {run.id} is still {state} after {timeout:g}s",
                          f"wait again, or check it with `expkit runs watch {run.id} --once`", exit_code=124)
    code = exit_code_of(st)
    emit({"run_id": run.id, "state": st["state"], "exit_code": st.get("exit_code"), "signal": st.get("signal_name"),
          "reason": st.get("reason"), "wait_exit_code": code},
         as_json, f"{run.id} {st['state']}" + (f": {st['reason']}" if st.get("reason") else ""))
    sys.exit(code)


@runs.command("reproduce")
@click.argument("run_id")
@click.option("--dry-run", is_flag=True, help="Check and print what would run; change nothing.")
@runs_dir_option
@json_option
def reproduce(run_id, dry_run, runs_dir, as_json):
    """Relaunch a run with the same code (commit + git.patch), command, seed, config and env.

    The code is checked out in a git worktree under <runs dir>/.worktrees/.

    Example:

        expkit runs reproduce train_20261122-013624 --dry-run
    """
    from expkit.runs import reproduce as rep

    store = RunStore(runs_dir)
    run = store.get(run_id)
    if dry_run:
        p = rep.plan(run, store.root)

        def text():
            click.echo(f"would reproduce {run.id}:")
            click.echo(f"  worktree {p['worktree']} at {p['commit'][:12]}" + (" + git.patch" if p["patch"] else ""))
            click.echo(f"  cwd      {p['cwd']}")
            click.echo(f"  command  {' '.join(p['argv'])}")
            click.echo(f"  seed     {p['seed']}")
            if p["config"]:
                click.echo(f"  config   {p['config']}")
            for k in p["missing_secrets"]:
                click.echo(f"  warning: {k} was set for the original run and is not set now")
            for k in p["inherited_secrets"]:
                click.echo(f"  note:    {k} comes from your environment now, not from the recorded run")
            if p["redacted"]:
                click.echo("  recorded as *** (supply these yourself): " + ", ".join(p["redacted"]))
            if p["not_in_worktree"]:
                click.echo("  warning: not in the worktree (ignored or untracked, e.g. data): "
                           + ", ".join(p["not_in_worktree"]) + "; a script that reads them fails there: "
                           "commit them, or make the command read them by absolute path")

        emit({"dry_run": True, **p}, as_json, text)
        return
    result, p = rep.reproduce(run, store.root)
    if not as_json:
        for k in p["missing_secrets"]:
            warn(f"{k} was set for the original run and is not set now")
        for k in p["inherited_secrets"]:
            warn(f"{k} comes from your environment now, not from the recorded run")
        if p["redacted"]:
            warn("recorded as *** (supply these yourself): " + ", ".join(p["redacted"]))
    emit({"reproduces": run.id, **result.to_json()}, as_json,
         f"launched {result.run.id} (pid {result.pid}) reproducing {run.id}\n"
         f"  code:   {p['worktree']} at {p['commit'][:12]}\n"
         f"  follow: expkit runs logs {result.run.id} --follow")


@runs.command("digest")
@click.option("--peek", is_flag=True, help="Report without marking the runs as seen.")
@runs_dir_option
@json_option
def digest(peek, runs_dir, as_json):
    """One line per run that ended since the last digest (the first digest looks back 24 hours).

    Silent when there is nothing new; the plugin's SessionStart hook calls it so a new session learns
    what finished or failed while nobody was watching.

    Example:

        expkit runs digest --peek
    """
    from expkit.runs.digest import ended_since_last

    rows = ended_since_last(RunStore(runs_dir), mark=not peek)

    def text():
        for r in rows:
            code = f"exit {r['exit_code']}" if r["exit_code"] is not None else (r["signal"] or r["state"])
            hint = "" if r["state"] == "succeeded" else f"; why: expkit runs diagnose {r['run_id']}"
            click.echo(f"expkit: run {r['run_id']} {r['state']} ({code}) {human_ago(r['ended_at'])}: "
                       f"{(r['command'] or '')[:80]}{hint}")

    emit({"runs": rows}, as_json, text)
