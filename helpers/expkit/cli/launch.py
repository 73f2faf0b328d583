"""`expkit launch`: start a command as a tracked, reproducible run."""

from __future__ import annotations

from pathlib import Path

import click

from expkit.cli.options import emit, json_option, runs_dir_option, warn


@click.command(context_settings={"ignore_unknown_options": False})
@click.option("--name", help="Run name (default: from the command, e.g. train for train.py).")
@click.option("--gpus", help="GPU indices like 0,1; auto or auto:N for free GPUs (see `expkit gpus --free`); none for "
              "CPU only (default: inherit). With --backend slurm: a GPU count (2, or a100:2); with --backend modal: "
              "a GPU type (A100, H100:2).")
@click.option("--seed", type=int, help="Seed, passed through the script's own --seed / seed= / Hydra or dataclass seed when it has one, and "
              "exported as PYTHONHASHSEED and EXPKIT_SEED (default: the script's own default, else chosen; the "
              "manifest records which seed the script really used).")
@click.option("--config", type=click.Path(path_type=Path), help="Config file to record (copied into the run dir).")
@click.option("--env", "env_pairs", multiple=True, metavar="K=V", help="Extra environment variable (repeatable).")
@click.option("--wandb-project", help="Sets WANDB_PROJECT, WANDB_NAME, WANDB_RUN_GROUP and WANDB_DIR for the run.")
@click.option("--backend", default="local", show_default=True, help="Where the run executes: local, slurm, modal "
              "(see `expkit backends`).")
@click.option("--partition", help="Slurm partition.")
@click.option("--account", help="Slurm account to charge.")
@click.option("--time", "time_limit", help="Time limit: Slurm --time (4:00:00) or the Modal timeout.")
@click.option("--cpus", type=int, help="CPUs per task (Slurm --cpus-per-task, Modal cpu).")
@click.option("--mem", help="Memory (Slurm --mem, e.g. 32G; Modal memory).")
@click.option("--nodes", type=int, help="Slurm nodes for a multi-node job (run the command with srun/torchrun).")
@click.option("--secret", "secrets", multiple=True, metavar="NAME",
              help="Modal secret to attach by name, e.g. wandb (repeatable; --backend modal).")
@runs_dir_option
@json_option
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def launch(name, gpus, seed, config, env_pairs, wandb_project, backend, partition, account, time_limit, cpus, mem,
           nodes, secrets, runs_dir, as_json, command):
    """Launch COMMAND detached, with a full reproducibility manifest.

    The run survives the terminal closing. Its folder runs/<name>_<YYYYmmdd-HHMMSS>/ holds manifest.json,
    status.json, stdout.log, git.patch and the config copy.

    Example:

    \b
        expkit launch --gpus 0 --seed 1 --config cfg.yaml -- python train.py --config cfg.yaml
        expkit launch --backend slurm --partition gpu --gpus 1 --time 4:00:00 --mem 32G -- python train.py
    """
    from expkit.runs.launch import LaunchFailed, LaunchRequest, launch as do_launch, parse_env_pairs

    from expkit.cli.backendopts import collect

    backend, options = collect(backend, partition, account, time_limit, cpus, mem, secrets=secrets,
                               where="slurm or modal", nodes=nodes)
    req = LaunchRequest(argv=list(command), name=name, gpus=gpus, seed=seed, config=config,
                        env=parse_env_pairs(list(env_pairs)), runs_dir=runs_dir, wandb_project=wandb_project,
                        backend=backend, backend_options=options)
    try:
        result = do_launch(req)
    except LaunchFailed as exc:
        if as_json:
            emit(exc.result.to_json(), True)
        raise
    if not as_json:
        for w in result.warnings:
            warn(w)

    def text():
        if result.backend != "local":
            click.echo(f"submitted {result.run.id} to {result.backend} (job {result.job_id}, {result.state})")
        else:
            click.echo(f"launched {result.run.id} (pid {result.pid})")
        sd = seed_info
        click.echo(f"  seed:    {sd.get('value') if sd.get('value') is not None else 'unknown'} ({sd.get('how')})")
        click.echo(f"  log:     {result.run.log_path}")
        click.echo(f"  follow:  expkit runs logs {result.run.id} --follow")
        click.echo(f"  status:  expkit runs show {result.run.id}")
        click.echo(f"  stop:    expkit runs stop {result.run.id}")

    seed_info = result.run.manifest().get("seed") or {}
    emit({**result.to_json(), "seed": seed_info}, as_json, text)
