"""Sweeps and the GPU-aware queue: a spec becomes trials, each trial an expkit run in the sweep's group.

spec.py      the sweep spec (expkit's own YAML or a W&B sweep config as it is), export back to W&B
sample.py    parameters and their distributions (every one W&B lists), grid and random sampling
bayes.py     bayes search through optuna, when it is installed
sweep.py     a sweep or a queue end to end: trials -> jobs -> the scheduler -> a summary
batch.py     the scheduler's on-disk state: one folder per sweep or queue, one file per job
scheduler.py the local scheduler: GPU leases, retries, systematic-failure stop, early termination, resume
gpus.py      which GPUs may be leased (the one place GPUs are read) and the slots they give
local.py     where a trial starts: the local backend (a Slurm or Modal backend replaces it)
estimate.py  GPU-hours, wall time and disk before launching
schedule.py  the standalone bash script generator (`expkit schedule`)
demo.py      the sweep part of `expkit demo`
"""
