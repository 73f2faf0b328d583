"""Status and recommendation words as people write them in plans and results files.

Plans and other runners write `passed_with_pivot`, `completed_with_real_data`, `proceed_to_gate_3`, `pivoted`.
Each word maps to one canonical word by its first part: passed*, completed* and proceed* pass a dependency gate;
pivot* and failed* do not; a word expkit does not know is shown as written, with a warning, and never opens a gate.
The raw word is always kept next to the mapped one.
"""

from __future__ import annotations

import re
from typing import Any

# canonical word -> does it open a dependency gate
_STATUS = {"passed": True, "completed": True, "proceed": True, "pivoted": False, "failed": False,
           "in_progress": False, "not_started": False, "blocked": False, "partial": False, "stub": False}
# prefixes (after lower-casing, '-' and ' ' read as '_'), longest first
_PREFIXES = (("not_started", "not_started"), ("in_progress", "in_progress"), ("completed", "completed"),
             ("complete", "completed"), ("passed", "passed"), ("pass", "passed"), ("proceed", "proceed"),
             ("pivot", "pivoted"), ("failed", "failed"), ("fail", "failed"), ("blocked", "blocked"),
             ("partial", "partial"), ("stub", "stub"))
_RECOMMENDATIONS = (("proceed", "proceed"), ("pivot", "pivot"), ("investigate", "investigate"))
# a sub-experiment's own status in a results file
_SUB = (("succeeded", "completed"), ("success", "completed"), ("completed", "completed"), ("complete", "completed"),
        ("passed", "completed"), ("done", "completed"), ("failed", "failed"), ("fail", "failed"),
        ("error", "failed"), ("crashed", "failed"), ("skipped", "skipped"), ("not_run", "not_run"),
        ("not_started", "not_run"), ("in_progress", "not_run"), ("running", "not_run"), ("pending", "not_run"),
        ("stopped", "not_run"), ("submitted", "not_run"), ("timeout", "failed"), ("timed_out", "failed"))


def _norm(word: Any) -> str:
    return re.sub(r"[\s\-]+", "_", str(word).strip().lower())


def _match(word: Any, table) -> str | None:
    norm = _norm(word)
    for prefix, canonical in table:
        if norm == prefix or norm.startswith(prefix + "_") or (norm.startswith(prefix) and len(prefix) >= 5):
            return canonical
    return None


def status(word: Any) -> dict[str, Any]:
    """A plan's or results file's `status:` word: {raw, mapped, gate, known}. None -> mapped None."""
    if word is None or word == "":
        return {"raw": None, "mapped": None, "gate": False, "known": True}
    mapped = _match(word, _PREFIXES)
    return {"raw": str(word), "mapped": mapped or str(word), "gate": bool(mapped and _STATUS[mapped]),
            "known": mapped is not None}


def recommendation(word: Any) -> dict[str, Any]:
    """A `recommendation:` word: {raw, mapped (proceed | pivot | investigate | the raw word), known}."""
    if word is None or word == "":
        return {"raw": None, "mapped": None, "known": True}
    mapped = _match(word, _RECOMMENDATIONS)
    return {"raw": str(word), "mapped": mapped or str(word), "known": mapped is not None}


def sub_status(word: Any) -> tuple[str, bool]:
    """A sub-experiment's status in a results file -> (completed | failed | skipped | not_run, known)."""
    if word is None or word == "":
        return "not_run", True
    mapped = _match(word, _SUB)
    return (mapped, True) if mapped else ("not_run", False)


def shown(info: dict[str, Any]) -> str:
    """`passed_with_pivot (passed)`; a canonical word alone; an unknown one as written with a question mark."""
    raw, mapped = info.get("raw"), info.get("mapped")
    if raw is None:
        return "-"
    if not info.get("known"):
        return f"{raw} (unknown word)"
    return raw if _norm(raw) == mapped else f"{raw} ({mapped})"
