"""Text rendering of a diagnosis: verdict first, then each finding with its evidence and fixes."""

from __future__ import annotations

_MARK = {"error": "ERROR", "warning": "WARN", "info": "INFO"}


def where(ev: dict) -> str:
    if ev.get("source"):
        return ev["source"]
    if ev.get("line") is not None:
        return f"line {ev['line']}"
    if ev.get("from_end") is not None:
        return f"{ev['from_end']} from end"
    return "log"


def render_text(result: dict, max_fixes: int | None = None, max_findings: int = 6) -> list[str]:
    target = result.get("run_id") or result["log"]
    lines = [f"{target}: {result['verdict']}"]
    if not result.get("log_exists", True):
        return lines
    for f in result["findings"][:max_findings]:
        lines.append("")
        lines.append(f"{_MARK[f['severity']]} {f['title']} [{f['category']}, confidence {f['confidence']:.2f}]"
                     + (f" x{f['occurrences']}{'+' if f.get('occurrences_at_least') else ''}"
                        if f.get("occurrences", 1) > 1 else ""))
        lines.append(f"  {f['summary']}")
        tb = f.get("traceback") or {}
        if tb.get("user_frame"):
            uf = tb["user_frame"]
            lines.append(f"  raised from {uf['file']}:{uf['line']} in {uf['function']}")
        for ev in f["evidence"]:
            lines.append(f"  {where(ev):>14} | {ev['text'][:200]}")
        for fix in f["fixes"][:max_fixes]:
            lines.append(f"  fix: {fix}")
    scan = result.get("scan") or {}
    if scan.get("mode") == "tail":
        lines.append("")
        lines.append(f"(read the last MiB of a {scan['log_bytes'] / 2**20:.0f} MiB log; --full scans all of it)")
    return lines
