# SalisMaxima/ct_scan_mlops tasks/data.py: structure re-typed (imports, entry-point calls, flags), not the original code
from invoke import Context, task
PROJECT_NAME = 'ct_scan_mlops'
@task
def download(ctx: Context) -> None:
    ctx.run(f'uv run python -m {PROJECT_NAME}.data download')
@task
def preprocess(ctx: Context) -> None:
    ctx.run(f'uv run python -m {PROJECT_NAME}.data preprocess')
