# SalisMaxima/ct_scan_mlops tasks/docker.py: structure re-typed (imports, entry-point calls, flags), not the original code
from invoke import Context, task
@task
def train(ctx: Context, args: str = '') -> None:
    ctx.run(f'docker run --rm ct-train:latest {args}')
