"""The `expkit` command line: a thin skin over the Python API.

Command groups are imported only when invoked, so `expkit --help` stays as fast as importing click.
To add a command: put a click command or group in its own module here and add one line to COMMANDS.
"""

from __future__ import annotations

import importlib
import sys

import click

from expkit import __version__
from expkit.errors import ExpkitError

# name -> (module, attribute, one-line help shown by `expkit --help` without importing the module)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "launch": ("expkit.cli.launch", "launch", "Launch a command as a tracked, reproducible run."),
    "runs": ("expkit.cli.runs", "runs", "List, inspect, follow, stop, wait for and reproduce runs."),
    "gpus": ("expkit.cli.gpus", "gpus", "List GPUs (PCI bus order), their memory, load and processes; --free."),
    "env": ("expkit.cli.env", "env", "Detect, create, install into and verify Python environments."),
    "entrypoints": ("expkit.cli.entrypoints", "entrypoints", "Find a project's training commands, statically."),
    "doctor": ("expkit.cli.doctor", "doctor", "Pre-flight checks: git, GPUs, disk, environment, torch/CUDA, wandb."),
    "backends": ("expkit.cli.backends", "backends", "Which backends (local, Slurm, Modal) can run work here."),
    "plan": ("expkit.cli.plan", "plan", "Research plans: run sub-experiments, judge criteria, write FINDINGS.md."),
    "demo": ("expkit.cli.demo", "demo", "Run the showcase: launch, diagnose, W&B, a research plan and a sweep on tiny real projects."),
    "wandb": ("expkit.cli.wandb", "wandb", "Add W&B logging to a training script, undo it, read runs back."),
    "sweep": ("expkit.cli.sweep", "sweep", "Run, resume, export and report hyperparameter sweeps on a GPU-aware queue."),
    "queue": ("expkit.cli.queue", "queue", "Queue commands and run them unattended on free GPUs."),
    "schedule": ("expkit.cli.schedule", "schedule", "Write a standalone bash script that runs jobs unattended."),
    "loop": ("expkit.cli.loop", "loop", "Autonomous research loop: try changes with K seeds, keep only real gains."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx, args):
        name = args[0] if args else None
        if name and not name.startswith("-") and name not in COMMANDS:
            import difflib

            close = difflib.get_close_matches(name, list(COMMANDS), n=3)
            hint = f"did you mean: {', '.join(close)}?" if close else "run `expkit --help` for the list of commands"
            raise ExpkitError(f"no such command: {name}", hint)
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="expkit", message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def cli(ctx, debug):
    """expkit: reproducible, observable ML experiment runs.

    Every command prints text for people and one JSON object with --json for agents.
    Exit codes: 0 ok, 1 it ran and reports a failure, 2 bad usage or bad input.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _report(message: str, hint: str | None) -> None:
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"hint: {hint}", err=True)


def _os_hint(exc: OSError) -> str:
    import errno

    return {errno.ENOSPC: "free some disk space, then retry",
            errno.EDQUOT: "your disk quota is used up: free some space, then retry",
            errno.EROFS: "the file system is read-only: work on a writable copy",
            errno.EPERM: "the file is immutable or protected (see `lsattr`; `chattr -i FILE`): fix that, then retry",
            errno.EACCES: "check the permissions of the file and its folder",
            errno.EISDIR: "give a file, not a folder"}.get(exc.errno, "check the path and its permissions, then retry")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        rv = cli.main(args=args, prog_name="expkit", standalone_mode=False)
    except ExpkitError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        _report(exc.message, exc.hint)
        sys.exit(exc.exit_code)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc), err=True)
        sys.exit(2)
    except click.UsageError as exc:
        cmd = exc.ctx.command_path if exc.ctx else "expkit"
        _report(exc.format_message(), f"run `{cmd} --help` for usage")
        sys.exit(2)
    except click.ClickException as exc:
        _report(exc.format_message(), None)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        _report("aborted", None)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _report("interrupted", None)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except OSError as exc:  # a file that cannot be read or written: the user can act on it, it is not a bug
        if debug:
            raise
        target = exc.filename2 or exc.filename  # a rename over a file names the file, not the temp copy
        where = f" {target}" if target else ""
        _report(f"cannot use{where}: {exc.strerror or exc}", _os_hint(exc))
        sys.exit(2)
    except Exception as exc:  # a bug: say so plainly, traceback only with --debug
        if debug:
            raise
        _report(f"internal error: {type(exc).__name__}: {exc}", "re-run with --debug for a traceback, and report it")
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)
