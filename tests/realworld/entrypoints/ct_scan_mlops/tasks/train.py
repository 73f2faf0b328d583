# SalisMaxima/ct_scan_mlops tasks/train.py: structure re-typed (imports, entry-point calls, flags), not the original code
import os
from invoke import Context, task
WINDOWS = os.name == 'nt'
PROJECT_NAME = 'ct_scan_mlops'
@task
def train(ctx: Context, entity: str = '', args: str = '') -> None:
    full_args = f'{entity} {args}'.strip()
    ctx.run(f'uv run python -m {PROJECT_NAME}.train {full_args}', echo=True, pty=not WINDOWS)
@task
def train_dual(ctx: Context, top_features: bool = False, args: str = '') -> None:
    ctx.run(f'uv run python -m {PROJECT_NAME}.train model=dual_pathway {args}', echo=True)
@task
def sweep(ctx: Context, sweep_config: str = 'configs/sweeps/train_sweep.yaml') -> None:
    ctx.run(f'uv run wandb sweep {sweep_config}', echo=True)
