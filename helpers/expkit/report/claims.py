"""Status and recommendation lines a researcher wrote by hand in FINDINGS.md, checked against the judged result.

A hand-written "**Recommendation:** Proceed to Phase 2" above a generated "PIVOT" is a contradiction a reader
must not have to find alone: each one becomes a warning naming both lines.
"""

from __future__ import annotations

import re
from typing import Any

from expkit.plan import words

_CLAIM = re.compile(r"^[\s>*_#|\-]*(?P<key>status|recommendation|verdict)\b[\s*_]*[:：][\s*_]*(?P<value>.*)$", re.I)
_SECTION = re.compile(r"<!-- expkit:(begin|end) [\w-]+ -->")
_GENERATED = re.compile(r"^\*\*Status: (?P<status>[^*]+)\*\* · \*\*Recommendation: (?P<rec>[^*]+)\*\*")


def _phrase(value: str) -> str:
    """The leading words of a value: '✅ Completed (2026-01-18)' -> 'Completed'."""
    value = re.sub(r"^[^A-Za-z]+", "", value)
    return re.split(r"[(\[\-–—,.;:|!*_]", value, maxsplit=1)[0].strip()


def hand_claims(text: str) -> list[dict[str, Any]]:
    """Lines outside expkit's markers that state a status or recommendation, with a word expkit can read."""
    out, inside, fenced = [], False, False
    for number, line in enumerate(text.splitlines(), 1):
        mark = _SECTION.search(line)
        if mark:
            inside = mark.group(1) == "begin"
            continue
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if inside or fenced or line.startswith(("    ", "\t")):  # code is not a claim
            continue
        m = _CLAIM.match(line)
        if not m:
            continue
        phrase = _phrase(m.group("value"))
        if not phrase:
            continue
        key = m.group("key").lower()
        if key == "status":
            info = words.status(phrase)
            if info["known"]:
                out.append({"line": number, "kind": "status", "word": info["mapped"], "text": line.strip()})
        else:
            info = words.recommendation(phrase)
            if info["known"]:
                out.append({"line": number, "kind": "recommendation", "word": info["mapped"], "text": line.strip()})
    return out


def _disagrees(claim: dict[str, Any], status: str, rec: str) -> bool:
    word = claim["word"]
    if claim["kind"] == "recommendation":
        return word != rec
    if word in ("passed", "proceed"):
        return not (status == "completed" and rec == "proceed")
    if word == "completed":
        return status != "completed"
    if word == "pivoted":
        return rec != "pivot"
    if word == "failed":
        return status != "failed"
    if word in ("in_progress", "not_started", "partial"):
        return status in ("completed", "failed")
    return False


def contradictions(text: str, status: str | None, rec: str | None) -> list[dict[str, Any]]:
    """Hand-written claims in `text` (the FINDINGS.md about to be written) that the judged result contradicts."""
    if not status or status == "stub":
        return []
    generated = next((i for i, line in enumerate(text.splitlines(), 1) if _GENERATED.match(line)), None)
    found = []
    for claim in hand_claims(text):
        if not _disagrees(claim, status, rec or ""):
            continue
        plain = re.sub(r"[*_`]+", "", claim["text"]).lstrip("#> ").strip()
        quoted = plain if len(plain) <= 90 else plain[:87] + "..."
        judged = f"{status.upper()} / {(rec or '-').upper()}"
        found.append({**claim, "generated_line": generated,
                      "header": f"Line {claim['line']} (written by hand) says \"{quoted}\", but the judged results "
                                f"say {judged} (line {generated}).",
                      "warning": f"FINDINGS.md line {claim['line']} (written by hand) says \"{quoted}\" but the "
                                 f"judged result at line {generated} is {judged}"})
    return found
