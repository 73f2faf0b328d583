"""`expkit runs compare` and `expkit runs classification`: reading results side by side."""

from __future__ import annotations

from pathlib import Path

import click

from expkit.cli.options import emit, json_option, runs_dir_option


@click.command("compare")
@click.argument("run_ids", nargs=-1)
@click.option("--group", help="Compare every run of this group (a sweep, a queue, a plan).")
@click.option("--metric", help="Metric that decides the best run (default: val_loss, loss, accuracy ... if logged).")
@click.option("--goal", type=click.Choice(["minimize", "maximize"]), help="Default: guessed from the metric's name.")
@runs_dir_option
@json_option
def compare(run_ids, group, metric, goal, runs_dir, as_json):
    """Compare runs: the config keys that differ and the final/best metrics side by side, best run marked.

    Example:

        expkit runs compare --group lr-sweep --metric val_loss
    """
    from expkit.analysis.compare import compare as do_compare, render_text, resolve_runs
    from expkit.errors import ExpkitError
    from expkit.runs.store import RunStore

    if not run_ids and not group:
        raise ExpkitError("nothing to compare", "give run ids (expkit runs compare A B) or --group G")
    result = do_compare(resolve_runs(RunStore(runs_dir), list(run_ids), group), metric, goal)
    emit(result, as_json, lambda: click.echo(render_text(result)))


@click.command("classification")
@click.argument("run_id")
@click.option("--file", "file_name", help="Predictions file (default: predictions.csv/.jsonl/.npz in the run dir).")
@click.option("--no-plot", is_flag=True, help="Skip the confusion-matrix PNG.")
@runs_dir_option
@json_option
def classification(run_id, file_name, no_plot, runs_dir, as_json):
    """Per-class precision, recall and F1, and a confusion-matrix PNG, from labels and predictions a run saved.

    Example:

        expkit runs classification latest --file predictions.csv
    """
    from expkit.analysis.classify import classification_report, confusion_plot, find_file, load_pairs, render_text
    from expkit.runs.store import RunStore

    run = RunStore(runs_dir).get(run_id)
    path = find_file(run.path, file_name)
    result = {"run_id": run.id, "file": str(path), **classification_report(*load_pairs(path))}
    if not no_plot:
        result["plot"] = str(confusion_plot(result, run.path / "confusion_matrix.png", f"{run.id}"))
    emit(result, as_json, lambda: click.echo(render_text(result)))
