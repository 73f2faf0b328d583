# SalisMaxima/ct_scan_mlops tasks/core.py: structure re-typed (imports, entry-point calls, flags), not the original code
from invoke import Context, task
@task
def setup_dev(ctx: Context) -> None:
    ctx.run('uv sync --all-groups')
