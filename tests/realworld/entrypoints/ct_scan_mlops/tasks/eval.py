# SalisMaxima/ct_scan_mlops tasks/eval.py: structure re-typed (imports, entry-point calls, flags), not the original code
from invoke import Context, task
PROJECT_NAME = 'ct_scan_mlops'
@task
def benchmark(ctx: Context, checkpoint: str) -> None:
    ctx.run(f'uv run python -m {PROJECT_NAME}.benchmark {checkpoint}')
