"""Process facts from /proc (Linux): identity that survives PID reuse, process groups, trees.

A PID alone is not an identity: the kernel reuses them. A process is the same one we started only when
its PID, its start time (clock ticks since boot) and the boot id all match what was recorded.
"""

from __future__ import annotations

import os
import signal
from typing import NamedTuple


def boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return None


class ProcStat(NamedTuple):
    pid: int
    state: str  # R, S, D, Z (zombie), T, X ...
    ppid: int
    pgid: int
    sid: int
    start_ticks: int


def stat(pid: int) -> ProcStat | None:
    """Parse /proc/<pid>/stat; None when the process does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm may contain spaces and parentheses: split after the last ')'
    rest = raw[raw.rfind(")") + 2 :].split()
    return ProcStat(pid=pid, state=rest[0], ppid=int(rest[1]), pgid=int(rest[2]), sid=int(rest[3]),
                    start_ticks=int(rest[19]))


def start_ticks(pid: int) -> int | None:
    st = stat(pid)
    return st.start_ticks if st else None


def identity(pid: int) -> dict:
    """What makes `pid` recognisable later (see is_same_process_alive), and on which machine it runs."""
    return {"pid": pid, "start_ticks": start_ticks(pid), "boot_id": boot_id(), "host": os.uname().nodename}


def is_same_process_alive(pid: int | None, ticks: int | None, boot: str | None) -> bool:
    """True when `pid` is still the process that was recorded (not a reused PID, not a zombie)."""
    if not pid:
        return False
    if boot and boot_id() and boot != boot_id():
        return False
    st = stat(pid)
    if st is None or st.state in ("Z", "X"):
        return False
    return ticks is None or st.start_ticks == ticks


def all_stats() -> list[ProcStat]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = stat(int(name))
            if st is not None:
                out.append(st)
    return out


def live_tree(root_pid: int, pgid: int | None = None) -> list[int]:
    """Live members of the process group plus every live descendant of root_pid."""
    stats = all_stats()
    children: dict[int, list[int]] = {}
    for st in stats:
        children.setdefault(st.ppid, []).append(st.pid)
    live = {st.pid for st in stats if st.state not in ("Z", "X")}
    found = {st.pid for st in stats if pgid is not None and st.pgid == pgid and st.pid in live}
    stack = [root_pid]
    while stack:
        pid = stack.pop()
        if pid in live:
            found.add(pid)
        stack.extend(children.get(pid, []))
    return sorted(found)


def signal_tree(root_pid: int, pgid: int | None, sig: int) -> list[int]:
    """Send `sig` to the process group and to descendants that left it; returns the pids signalled."""
    targets = live_tree(root_pid, pgid)
    if pgid:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    for pid in targets:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    return targets


def signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"
