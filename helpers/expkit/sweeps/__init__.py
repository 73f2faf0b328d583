"""Sweeps and the GPU-aware queue: a spec becomes trials, each trial an expkit run in the sweep's group.

spec.py      the sweep spec (expkit's own YAML or a W&B sweep config as it is), export back to W&B
sample.py    parameters and their distributions (every one W&B lists), grid and random sampling
batch.py     the scheduler's on-disk state: one folder per sweep or queue, one file per job
scheduler.py the local scheduler: GPU leases, retries, systematic-failure stop, early termination, resume
local.py     where a trial starts (the one function a Slurm or Modal backend replaces)
"""
