"""Watching runs: log tails, failure diagnosis, metric read-back."""
"""Watching runs and explaining how they ended: log scanning, failure diagnosis, progress, metrics, resources.

    rules.py      the table of failure categories: patterns, numbers to extract, confidence, fixes
    scan.py       finding the lines that match those patterns in a log of any size (grep, tail-first)
    diagnose.py   log + exit code + signal + resource samples -> findings an agent can act on
    progress.py   step/epoch, loss trend, it/s and ETA parsed from log lines and tqdm bars
    metrics.py    latest/best metric values from W&B, metrics.jsonl or log lines
    wandb_local.py a W&B run read back from its local files (offline runs included)
    resources.py  the supervisor's RSS/GPU sampler and its resources.jsonl
    watch.py      one status snapshot of a run, repeated by `expkit runs watch`
"""
