"""`expkit gpus`: every GPU, its memory, load and processes; --free for the ones a run can take."""

from __future__ import annotations

import click

from expkit.cli.options import emit, json_option


@click.command()
@click.option("--free", "only_free", is_flag=True,
              help="Only GPUs with no process on them and memory use under the threshold.")
@click.option("--max-used-mib", type=click.IntRange(min=0), default=None,
              help="Threshold for --free (default 1024 MiB, or $EXPKIT_GPU_FREE_MIB).")
@json_option
def gpus(only_free, max_used_mib, as_json):
    """List GPUs with memory, utilization, temperature, power and processes.

    Indices are in PCI bus order: the numbers CUDA_VISIBLE_DEVICES takes for runs expkit launches
    (they get CUDA_DEVICE_ORDER=PCI_BUS_ID). With no GPU or driver: an empty list and the reason, exit 0.

    Example:

        expkit gpus --free --json
    """
    from expkit.hardware.gpus import free_gpus, list_gpus

    info = list_gpus()
    free = free_gpus(info, max_used_mib)
    shown = free if only_free else info["devices"]
    out = {**info, "devices": shown, "free": [d["index"] for d in free]}

    def text():
        if not info["devices"]:
            click.echo(f"no GPUs: {info['reason']}")
            return
        click.echo(f"driver {info['driver'] or '?'}" + (f", CUDA {info['cuda_driver']}" if info.get("cuda_driver") else "")
                   + f" (indices in PCI bus order; source: {info['source']})")
        for note in info.get("notes", []):
            click.echo(f"note: {note}")
        if not shown:
            click.echo("no free GPU")
        for d in shown:
            mem = f"{_v(d['memory_used_mib'])}/{_v(d['memory_total_mib'])} MiB"
            click.echo(f"[{d['index']}] {d['name']}  {mem}  util {_v(d['utilization_gpu'])}%  "
                       f"{_v(d['temperature_c'])}C  {_v(d['power_w'])}W  {'free' if d['free'] else 'busy'}")
            for p in d["processes"]:
                run = f"  expkit run {p['run_id']}" if p.get("run_id") else ""
                click.echo(f"      pid {p['pid']}  {p['user'] or '?'}  {_v(p['used_memory_mib'])} MiB{run}")

    emit(out, as_json, text)


def _v(value):
    return "?" if value is None else value
