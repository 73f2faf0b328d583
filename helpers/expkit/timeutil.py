"""Times are ISO 8601 UTC in files and human-relative in the terminal."""

from __future__ import annotations

from datetime import datetime, timezone


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def stamp(dt: datetime | None = None) -> str:
    """The run-id timestamp: 20261122-013624 (UTC)."""
    return (dt or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{s:02d}s"
    hours, m = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{m:02d}m"
    days, h = divmod(hours, 24)
    return f"{days}d{h:02d}h"


def human_ago(text: str | None) -> str:
    dt = parse_iso(text)
    if dt is None:
        return "-"
    delta = (datetime.now(timezone.utc) - dt).total_seconds()
    if delta < 5:
        return "just now"
    return human_duration(delta) + " ago"


def seconds_between(start: str | None, end: str | None = None) -> float | None:
    s = parse_iso(start)
    if s is None:
        return None
    e = parse_iso(end) or datetime.now(timezone.utc)
    return max(0.0, (e - s).total_seconds())
