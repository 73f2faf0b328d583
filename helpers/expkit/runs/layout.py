"""The vocabulary of a run directory: its file names and the states a run can be in.

It sits below both the run store and the backends, which speak about the same files and states without
importing each other.
"""

STATES = ("queued", "running", "succeeded", "failed", "stopped", "lost", "unknown")  # unknown: unreadable status.json
TERMINAL = ("succeeded", "failed", "stopped", "lost")
MANIFEST = "manifest.json"
STATUS = "status.json"
LOG = "stdout.log"
STOP_REQUEST = "stop.json"
