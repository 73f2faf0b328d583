"""What ended while nobody was watching: runs finished since the last digest of this runs dir."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from expkit.fsutil import atomic_write_text
from expkit.runs.store import TERMINAL, RunStore
from expkit.timeutil import now_iso, parse_iso

MARKER = ".digest-seen"
FIRST_LOOKBACK = timedelta(hours=24)


def ended_since_last(store: RunStore, mark: bool = True) -> list[dict]:
    marker = store.root / MARKER
    try:
        since = parse_iso(marker.read_text().strip())
    except (FileNotFoundError, ValueError):
        since = datetime.now(timezone.utc) - FIRST_LOOKBACK
    checked_at = now_iso()
    rows = []
    for run in store.all():
        st = run.status()
        if st["state"] not in TERMINAL:
            continue
        ended = parse_iso(st.get("ended_at")) if st.get("ended_at") else None
        if st["state"] == "lost":
            ended = ended or parse_iso(st.get("started_at"))
        if ended is None or ended <= since:
            continue
        rows.append({"run_id": run.id, "state": st["state"], "ended_at": st.get("ended_at") or st.get("started_at"),
                     "exit_code": st.get("exit_code"), "signal": st.get("signal_name"), "command": st.get("command"),
                     "reason": st.get("reason")})
    if mark and store.root.is_dir():
        atomic_write_text(marker, checked_at + "\n")
    return rows
