# SalisMaxima/ct_scan_mlops tasks/git_tasks.py: structure re-typed (imports, entry-point calls, flags), not the original code
from invoke import Context, task
@task
def status(ctx: Context) -> None:
    ctx.run('git status')
