"""Watching runs: log tails, failure diagnosis, metric read-back."""
