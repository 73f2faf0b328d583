"""A run: spec, manifest capture, run-dir store, detached launch, status, stop, wait, reproduce."""
