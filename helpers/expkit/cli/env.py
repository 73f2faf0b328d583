"""`expkit env`: detect, create, install into and verify the Python environment a project trains in."""

from __future__ import annotations

from pathlib import Path

import click

from expkit.cli.options import emit, json_option

MANAGER_CHOICE = click.Choice(["conda", "mamba", "micromamba", "uv", "venv"])
path_argument = click.argument("path", required=False, default=".", type=click.Path(path_type=Path))
env_option = click.option("--env", "env_name", metavar="NAME",
                          help="Target env (default: the one `expkit env create` made for this project, "
                               "else the active one, else ./.venv).")


def _echo(as_json: bool):
    """Tool output streams to stdout, or to stderr with --json so stdout stays one JSON object."""
    return lambda line: click.echo(line, err=as_json)


@click.group()
def env():
    """Detect, create, install into and verify Python environments.

    Example:

        expkit env detect --json
    """


@env.command()
@path_argument
@json_option
def detect(path, as_json):
    """List the project's environments (active or not) with their interpreters, and recommend one.

    Looks at ./.venv, ./venv, $VIRTUAL_ENV, conda envs and a uv project (uv.lock); also reports managers,
    dependency files and the install plan for the recommended env.

    Example:

        expkit env detect . --json
    """
    from expkit.envs.ops import detect as do_detect

    out = do_detect(path)

    def text():
        have = [name for name, ok in out["managers"].items() if ok]
        click.echo(f"managers:   {', '.join(have) or 'none'}")
        active = out["active_env"]
        click.echo(f"active env: {active['name']} ({active['manager']}, {active['path']})" if active else "active env: none")
        click.echo("environments:" if out["environments"] else "environments: none found")
        for e in out["environments"]:
            flags = [w for w, on in (("recommended", e.get("recommended")), ("active", e["active"]),
                                     ("not created yet", not e["exists"]), ("torch", e.get("torch"))) if on]
            version = f" {e['python_version']}" if e.get("python_version") else ""
            click.echo(f"  {'*' if e.get('recommended') else ' '} {e['name']:<16} {e['kind']:<10} {e['python']}{version}"
                       + (f"  ({', '.join(flags)})" if flags else ""))
        files = out["dependency_files"]
        click.echo("dependency files (priority order):" if files else "dependency files: none")
        for f in files:
            extra = f" extras: {', '.join(f['extras'])}" if f["extras"] else ""
            click.echo(f"  {f['path']}{extra}{'  (uv.lock)' if f['uv_lock'] else ''}")
        rec = out["recommendation"]
        click.echo(f"recommended: {rec['manager']} env '{rec['env']}': {rec['why']}")
        if rec.get("python"):
            click.echo(f"  python: {rec['python']}")
        if rec["create"]:
            click.echo(f"  {rec['create']}")
        for cmd in rec["install_plan"]:
            click.echo(f"  {cmd}")
        for note in out["notes"]:
            click.echo(f"note: {note}")

    emit(out, as_json, text)


@env.command()
@click.argument("name")
@click.option("--manager", type=MANAGER_CHOICE, help="Default: the one `expkit env detect` recommends.")
@click.option("--python", "python", metavar="X.Y", help="Python version (default: this interpreter's).")
@click.option("--force", is_flag=True, help="Remove and recreate an existing env.")
@click.option("--path", "project", default=".", type=click.Path(path_type=Path), help="Project folder (default: .).")
@json_option
def create(name, manager, python, force, project, as_json):
    """Create env NAME; an existing env is reported, not recreated (unless --force).

    NAME is a folder for venv and uv (like `python -m venv NAME`), an env name for conda/mamba/micromamba.
    The project remembers it: `env install` and `env verify` then target it without --env.

    Example:

        expkit env create .venv --manager uv --python 3.11
    """
    from expkit.envs.ops import create as do_create

    out = do_create(project, name, manager, python, force, echo=_echo(as_json))
    emit(out, as_json, out["message"])


@env.command()
@env_option
@click.option("--with", "with_pkgs", multiple=True, metavar="PKG", help="Also install PKG (repeatable), e.g. wandb.")
@path_argument
@json_option
def install(env_name, with_pkgs, path, as_json):
    """Install the project's dependencies into the target env, with the right command per file.

    Output streams as it comes; the log and the exact commands are kept in .expkit/ in the project.

    Example:

        expkit env install --env .venv --with wandb .
    """
    from expkit.envs.ops import InstallFailed, install as do_install

    try:
        out = do_install(path, env_name, tuple(with_pkgs), echo=_echo(as_json))
    except InstallFailed as exc:
        if as_json:
            emit(exc.result, True)
        raise

    def text():
        click.echo(f"installed into {out['env']['manager']} env '{out['env']['name']}':")
        for s in out["steps"]:
            click.echo(f"  {s['command']}")
        click.echo(f"log: {out['log']}")

    emit(out, as_json, text)


@env.command()
@env_option
@click.option("--path", "project", default=".", type=click.Path(path_type=Path), help="Project folder (default: .).")
@json_option
def verify(env_name, project, as_json):
    """Check torch, CUDA and wandb from inside the target env (never in expkit's own process).

    Exit 0 when torch imports there (CUDA or not: `cuda_reason` says why CUDA is unavailable), 1 otherwise.

    Example:

        expkit env verify --env .venv --json
    """
    from expkit.envs.verify import verify as do_verify
    from expkit.errors import Failure

    out = do_verify(project, env_name)

    def text():
        t, w = out["torch"], out["wandb"]
        click.echo(f"env:     {out['env']['manager']} '{out['env']['name']}' ({out['executable']})")
        click.echo(f"python:  {out['python']}")
        if t.get("version"):
            build = f"CUDA {t['cuda_build']}" if t.get("cuda_build") else "CPU-only"
            click.echo(f"torch:   {t['version']} ({build} build)")
            devices = f"available, {t['device_count']} device(s): {', '.join(t['devices'])}"
            click.echo(f"cuda:    {devices if t['cuda_available'] else 'not available'}")
            if t.get("cudnn"):
                click.echo(f"cudnn:   {t['cudnn']}")
        else:
            click.echo("torch:   not installed" if not t.get("installed") else f"torch:   broken ({t.get('import_error')})")
        if out["cuda_reason"]:
            click.echo(f"why:     {out['cuda_reason']}")
        auth = w["mode"] or ("logged in" if w["logged_in"] else "not logged in")
        click.echo(f"wandb:   {w['version'] + ', ' + auth if w['installed'] else 'not installed'}")

    emit(out, as_json, text)
    if not out["ok"]:
        raise Failure(f"torch is not usable in env '{out['env']['name']}'", out["cuda_reason"])
