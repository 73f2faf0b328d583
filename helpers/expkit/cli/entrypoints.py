"""`expkit entrypoints`: the project's candidate training commands, ranked, read statically."""

from __future__ import annotations

from pathlib import Path

import click

from expkit.cli.options import emit, json_option


@click.command()
@click.argument("path", required=False, default=".", type=click.Path(path_type=Path))
@click.option("--all", "show_all", is_flag=True, help="Show every candidate's flags (text output shows the top 5).")
@json_option
def entrypoints(path, show_all, as_json):
    """List candidate training commands, ranked, with config style, flags, framework and tracking.

    Files are parsed, never imported or run. The top candidate comes with a suggested command line.

    Example:

        expkit entrypoints . --json
    """
    from expkit.entrypoints.discover import find_entrypoints

    out = find_entrypoints(path)

    def text():
        if not out["candidates"]:
            click.echo(out["note"])
            return
        click.echo(f"suggested: {out['suggested']}")
        shown = out["candidates"] if show_all else out["candidates"][:5]
        for c in shown:
            where = c["path"] + (f" ({c['target']})" if c.get("target") else "")
            click.echo(f"{c['rank']}. {c['command']}    [{c['kind']}: {where}, score {c['score']}]")
            details = []
            cfg = c.get("config") or {}
            if cfg.get("style"):
                details.append(f"config {'+'.join(cfg['styles'])}")
            if c.get("framework"):
                details.append(f"framework {c['framework']}")
            if c.get("distributed"):
                details.append(f"distributed {', '.join(c['distributed'])}")
            if c.get("tracking"):
                details.append(f"tracking {', '.join(c['tracking'])}")
            if details:
                click.echo(f"     {'; '.join(details)}")
            flags = cfg.get("flags") or []
            for f in flags if show_all or c["rank"] == 1 else []:
                req = " (required)" if f.get("required") else ""
                click.echo(f"       {f['name']} = {f.get('default')!r}{req}")
            if c.get("error"):
                click.echo(f"     warning: {c['error']}")
        if len(out["candidates"]) > len(shown):
            click.echo(f"... {len(out['candidates']) - len(shown)} more (--all)")
        excluded = out.get("excluded") or []
        for e in excluded if show_all else excluded[:3]:
            click.echo(f"not a script to run: {e['path']} ({e['why']})")
        if len(excluded) > 3 and not show_all:
            click.echo(f"... {len(excluded) - 3} more not offered (--all)")

    emit(out, as_json, text)
