"""`expkit wandb ...`: add W&B logging to a training script, undo it, check the setup, read a run back."""

from __future__ import annotations

import click

from expkit.cli.options import emit, json_option, warn
from expkit.errors import ExpkitError


@click.group()
def wandb():
    """Weights & Biases: inject logging into a script, revert it, check the setup, read metrics locally."""


@wandb.command()
@click.argument("script", type=click.Path(dir_okay=False, path_type=str))
@click.option("--project", help="W&B project written into wandb.init (default: $WANDB_PROJECT at run time).")
@click.option("--entity", help="W&B entity (team or user) written into wandb.init.")
@click.option("--dry-run", is_flag=True, help="Print the unified diff; write nothing.")
@click.option("--sync-tensorboard/--no-sync-tensorboard", default=None,
              help="For a script using SummaryWriter: mirror its events (one wandb.init) or add wandb.log calls.")
@json_option
def inject(script, project, entity, dry_run, sync_tensorboard, as_json):
    """Add W&B logging to SCRIPT: minimal, idempotent, reversible (a backup is written first).

    Edit line numbers refer to the edited script.

    Detects HF Trainer, Lightning, Keras, Accelerate, TensorBoard and custom loops. Exits 1 and changes
    nothing when it finds no safe place, with the snippet to add and where.

    Example:

        expkit wandb inject train.py --project mnist --dry-run
    """
    from expkit.inject import CannotInject, Options, inject_file

    try:
        result = inject_file(script, Options(project=project, entity=entity, sync_tensorboard=sync_tensorboard),
                             dry_run=dry_run)
    except CannotInject as exc:
        if as_json:
            emit({"framework": exc.framework, "changed": False, "edits": [], "error": exc.message,
                  "hint": exc.hint, "snippet": exc.snippet, "line": exc.line}, True)
            raise SystemExit(1)
        raise
    if result.changed or result.framework == "wandb":
        from expkit.monitor.wandb_local import not_logged_in_warning

        login = not_logged_in_warning()
        if login:
            result.warnings.append(login)
    out = result.to_json()
    out["dry_run"] = dry_run

    def text():
        if result.framework == "wandb":
            click.echo(f"{script}: already uses W&B; nothing changed")
            for row in result.existing[:10]:
                click.echo(f"  line {row['line']}: {row['code']}")
        elif not result.changed:
            click.echo(f"{script}: {result.framework}: nothing to change")
        else:
            if dry_run:
                click.echo(result.full_diff, nl=False)
            verb = "would change" if dry_run else "changed"
            click.echo(f"{script}: {result.framework}: {verb} {len(result.edits)} place(s)")
            for e in result.edits:
                click.echo(f"  line {e['line']}: {e['kind']}")
            if result.backup:
                click.echo(f"backup: {result.backup}  (undo: expkit wandb revert {script})")
            for other in result.also:
                verb = "would also change" if dry_run else "also changed"
                click.echo(f"{verb} {other.script}: {len(other.edits)} place(s)")
                for e in other.edits:
                    click.echo(f"  line {e['line']}: {e['kind']}")
                if other.backup:
                    click.echo(f"backup: {other.backup}  (undo: expkit wandb revert {other.script})")
        for note in result.notes:
            click.echo(f"note: {note}")
        for w in result.warnings:
            warn(w)

    emit(out, as_json, text)


@wandb.command()
@click.argument("script", type=click.Path(dir_okay=False, path_type=str))
@click.option("--force", is_flag=True,
              help="Restore the backup even when your edits since inject touch expkit's lines "
                   "(the current file is kept beside the backup).")
@json_option
def revert(script, force, as_json):
    """Undo `wandb inject` on SCRIPT without losing your edits.

    Unchanged since inject: the newest backup comes back byte for byte. Edited since: only expkit's
    changes are taken out and your edits stay; when your edits touch expkit's lines it refuses (exit 1),
    shows your edits as a diff and changes nothing. A symlinked script stays a symlink; modes are kept.

    Example:

        expkit wandb revert train.py
    """
    from pathlib import Path

    from expkit.inject import revert as do_revert
    from expkit.inject.backup import RevertConflict

    try:
        out = do_revert(Path(script), force=force)
    except RevertConflict as exc:
        if as_json:
            emit({"script": script, "changed": False, "error": exc.message, "hint": exc.hint, "diff": exc.diff}, True)
            raise SystemExit(1)
        click.echo(exc.diff, nl=False)
        raise

    def text():
        if out["kept_edits"]:
            click.echo(f"{script}: took out expkit's W&B lines and kept your edits since inject "
                       f"(backup {out['restored_from']} removed)")
        else:
            click.echo(f"{script}: restored from {out['restored_from']}")
        if out["saved_current"]:
            click.echo(f"the file as it was before --force: {out['saved_current']}")

    emit(out, as_json, text)


@wandb.command()
@json_option
def status(as_json):
    """Is wandb installed, logged in, and in which mode? Never prints a key.

    Example:

        expkit wandb status --json
    """
    from expkit.monitor.wandb_local import wandb_status

    st = wandb_status()

    def text():
        click.echo(f"installed: {'yes ' + st['version'] if st['installed'] else 'no'}")
        click.echo(f"logged in: {'yes (' + st['credentials'] + ')' if st['logged_in'] else 'no'}")
        click.echo(f"mode:      {st['mode']} ({st['mode_source']})")
        click.echo(f"entity:    {st['entity'] or '-'}")
        click.echo(f"project:   {st['project'] or '-'}")
        for hint in st["hints"]:
            click.echo(f"hint: {hint}")

    emit(st, as_json, text)


@wandb.command()
@click.argument("path", type=click.Path(path_type=str))
@click.option("--history", is_flag=True, help="Include every logged value (with --json).")
@json_option
def metrics(path, history, as_json):
    """Config and latest/best value of each metric of a W&B run, read from local files.

    PATH is an expkit run dir, a wandb dir or an offline-run-* dir (the newest run under it).

    Example:

        expkit wandb metrics runs/mnist_20261122-010203 --json
    """
    from expkit.monitor.wandb_local import read_wandb_run

    run = read_wandb_run(path)
    if not history:
        for m in run["metrics"].values():
            m.pop("history", None)
    if not run["metrics"] and not as_json:
        raise ExpkitError(f"the W&B run in {run['run_dir']} has no metrics yet", "was wandb.log called?",
                          exit_code=1)

    def text():
        click.echo(f"run {run['run_id']} ({run['state']}) project={run['project'] or '-'}  {run['run_dir']}")
        if run["config"]:
            click.echo("config:")
            for k, v in run["config"].items():
                click.echo(f"  {k} = {v}")
        click.echo(f"{'metric':30} {'latest':>12} {'best':>12} {'step':>7}")
        for name, m in sorted(run["metrics"].items()):
            best = "-" if m["best"] is None else f"{m['best']:.6g}"
            step = "-" if m["step"] is None else m["step"]
            click.echo(f"{name:30} {m['latest']:>12.6g} {best:>12} {step!s:>7}")

    emit(run, as_json, text)
