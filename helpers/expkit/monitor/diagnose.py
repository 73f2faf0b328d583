"""Why did a run fail, and what now? Findings from the log, the exit code/signal and the resource samples.

A finding is {category, title, severity, confidence, summary, numbers, evidence (line numbers + text), fixes}.
The cause is the most specific error-severity finding (rules.Rule.priority). Healthy-but-suspicious signs
(loss not improving, throughput dropping, no output for long, idle GPU) are warnings.

Big logs: a log of up to FULL_SCAN_BYTES is scanned whole (grep). A bigger one is read tail-first (the last
MiB): when the tail explains the failure, that is the answer (evidence is then numbered from the end of the log,
like `expkit runs logs -n`); otherwise the whole log is scanned. `full=True` always scans everything.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

from expkit.errors import ExpkitError
from expkit.monitor import progress, resources, rules
from expkit.monitor.logtext import clean, read_range, read_tail, segments
from expkit.monitor.scan import Hit, scan_full, scan_tail, use_grep

FULL_SCAN_BYTES = 64 << 20
TAIL_BYTES = 1 << 20
PROGRESS_BYTES = 32 << 10  # the last ~300 progress lines: enough for the trend checks, cheap to parse
MAX_EVIDENCE = 4
STALE_AFTER_S = 600.0
_SITE = re.compile(r"(site-packages|dist-packages|/lib/python[0-9.]+/|^<frozen|^<string>|/runpy\.py$)")
_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>[0-9]+), in (?P<func>.+)$')
_RICH_FRAME = re.compile(r"[│|]\s*(?P<file>\S+\.py):(?P<line>[0-9]+) in (?P<func>\S+)")
_EXC = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Warning|Fault|Failure|Invalid\w*)"
                  r"|[A-Za-z_][\w.]*\.[A-Z]\w*|AssertionError|StopIteration|KeyError|[A-Z]\w+Error)"
                  r"(?::\s?(?P<msg>.*))?$")


def diagnose(target, *, full: bool = False, stale_after: float = STALE_AFTER_S) -> dict[str, Any]:
    """Diagnose a Run (expkit.runs.store.Run) or a log file path."""
    from expkit.runs.store import STOP_REQUEST, Run

    run = target if isinstance(target, Run) else None
    log = Path(run.log_path if run else target)
    ctx: dict[str, Any] = {}
    status: dict[str, Any] = {}
    if run:
        status = run.status()
        m = run.manifest()
        cmd = m.get("command") or {}
        ctx.update(cwd=cmd.get("cwd"), run_dir=str(run.path), python=(m.get("python") or {}).get("executable"),
                   cuda_visible_devices=(m.get("gpus") or {}).get("cuda_visible_devices"),
                   duration_s=status.get("duration_s"), signal_name=status.get("signal_name"),
                   stopped_by_request=(run.path / STOP_REQUEST).exists())
        host_mem = (m.get("host") or {}).get("memory_bytes")
    elif not log.exists():
        raise ExpkitError(f"log file not found: {log}", "give a run id (see `expkit runs list`) or an existing log file")
    elif log.is_dir():
        raise ExpkitError(f"{log} is a folder, not a log file", "give a run id, a run folder with a manifest, or a log file")
    result: dict[str, Any] = {
        "run_id": run.id if run else None, "log": str(log), "state": status.get("state"),
        "exit_code": status.get("exit_code"), "signal": status.get("signal_name"), "reason": status.get("reason"),
    }
    if not log.exists():
        result.update(log_exists=False, scan=None, findings=[], cause=None, healthy=status.get("state") != "failed",
                      verdict=f"no log yet ({log} does not exist)" + (
                          f"; the run is {status.get('state')}" if status.get("state") else ""))
        if status.get("state") in ("failed", "lost") and status.get("reason"):
            result["verdict"] += f": {status['reason']}"
        return result
    result["log_exists"] = True
    if not os.access(log, os.R_OK):
        raise ExpkitError(f"cannot read the log {log}: permission denied", "check the file's permissions")
    started = time.perf_counter()
    size = log.stat().st_size
    pattern = rules.combined_pattern()
    mode = "full"
    if size > FULL_SCAN_BYTES and not full:
        hits, total = scan_tail(str(log), pattern, TAIL_BYTES)
        mode, engine = "tail", "grep" if use_grep() else "python"
        if not _explains(hits):
            hits, total, engine = scan_full(str(log), pattern)
            mode = "full"
    elif size:
        hits, total, engine = scan_full(str(log), pattern)
    else:
        hits, total, engine = [], 0, "none"

    tail_data = read_tail(log, 256 << 10)[0] if size else b""
    records = progress.records_from_text(read_tail(log, PROGRESS_BYTES)[0]) if size else []
    if run:
        res_peak = resources.peak(run.path)
        ctx["resource_numbers"] = _resource_numbers(res_peak, host_mem)
    findings = _classify(log, hits, ctx)
    if total > len(hits):  # only the first and last matches were kept: counts are lower bounds
        for f in findings:
            f["occurrences_at_least"] = True
    findings += _from_exit(status, ctx, findings, tail_data)
    findings += _suspicious(run, status, log, records, stale_after)
    _set_severity(findings, status.get("state"))
    findings.sort(key=lambda f: ({"error": 0, "warning": 1, "info": 2}[f["severity"]], -f["_priority"], -f["_offset"]))
    tb = ctx.get("traceback")
    for f in findings:
        f.pop("_priority"), f.pop("_offset")
    cause = next((f for f in findings if f["severity"] == "error"), None)
    if cause is None and status.get("state") in ("failed", "lost"):
        # interrupted is a reason of its own; otherwise say plainly that no known message explains the failure
        cause = next((f for f in findings if f["category"] in ("keyboard_interrupt", "sigterm")), None)
        if cause is None:
            cause = _unknown(status, tail_data)
            findings.insert(0, cause)
    from_log = cause is not None and cause["evidence"] and cause["evidence"][0].get("source") != "status.json"
    if from_log and tb and cause["category"] != "python_traceback" and not cause.get("note"):
        cause["traceback"] = tb
    if cause is not None and cause["category"] != "python_traceback":
        findings = [f for f in findings if f["category"] != "python_traceback" or f is cause]
    result.update(
        scan={"mode": mode, "engine": engine, "log_bytes": size, "matching_lines": total,
              "seconds": round(time.perf_counter() - started, 3)},
        findings=findings, cause=cause,
        healthy=not any(f["severity"] in ("error", "warning") for f in findings),
        verdict=_verdict(status, cause, findings),
        progress=progress.summarize(records, status.get("duration_s")) if records else {},
    )
    return result


def _explains(hits: list[Hit]) -> bool:
    """Does the tail alone say why the run ended? Any rule match there (a traceback included) does."""
    return any(rule.matches(seg) for hit in hits for seg in segments(hit.text) for rule in rules.RULES)


def _resource_numbers(peak: dict, host_mem: int | None) -> dict:
    n: dict[str, Any] = {}
    if peak.get("peak_rss_mib"):
        n["peak_rss_gib"] = round(peak["peak_rss_mib"] / 1024, 2)
    if host_mem:
        n["host_memory_gib"] = round(host_mem / 2**30, 1)
    if peak.get("min_mem_available_mib") is not None and peak["min_mem_available_mib"] != float("inf"):
        n["min_available_gib"] = round(peak["min_mem_available_mib"] / 1024, 2)
    return n


def _evidence(hit: Hit, text: str) -> dict[str, Any]:
    return {"line": hit.line, "from_end": hit.from_end, "text": text[:400]}


def _classify(log: Path, hits: list[Hit], ctx: dict) -> list[dict]:
    """Group matching lines by rule, read the context of each group, extract numbers."""
    groups: dict[str, list[tuple[Hit, str]]] = {}
    for hit in hits:
        segs = segments(hit.text) or [clean(hit.text)]
        for rule in rules.RULES:
            seg = next((s for s in segs if rule.matches(s)), None)
            if seg is not None:
                groups.setdefault(rule.id, []).append((hit, seg.strip()))
    if "python_traceback" in groups:
        ctx["traceback_offset"] = groups["python_traceback"][-1][0].offset
        tb = _parse_traceback(log, groups["python_traceback"][-1][0])
        ctx["traceback_evidence"] = tb.pop("evidence", None)
        ctx["traceback"] = tb
    if "nan_loss" in groups:
        ctx["finite_losses"] = _finite_losses_before(log, groups["nan_loss"][0][0])
    findings = []
    for rule in rules.RULES:
        group = groups.get(rule.id)
        if not group:
            continue
        anchor = group[0] if rule.first else group[-1]
        lines = [t for _, t in group[:50]] if rule.first else [t for _, t in group[-50:]]
        context = _context(log, anchor[0])
        numbers = rule.extract(lines + context if not rule.first else lines, ctx)
        picked = group[:MAX_EVIDENCE] if rule.first else group[-MAX_EVIDENCE:]
        evidence = [_evidence(h, t) for h, t in picked]
        if rule.id == "python_traceback" and ctx.get("traceback_evidence"):
            evidence = ctx["traceback_evidence"]
        if rule.id == "python_traceback" and numbers.get("exception_type") in (None, "KeyboardInterrupt"):
            continue  # nothing readable, or said better by the keyboard_interrupt rule
        f = _finding(rule, numbers, evidence, ctx, anchor[0].offset, occurrences=len(group))
        tb_offset = ctx.get("traceback_offset")
        if tb_offset is not None and f["_offset"] < tb_offset and rule.id not in ("python_traceback", "nan_loss") \
                and "exception_type" in (ctx.get("traceback") or {}):
            # printed before the final exception, and the exception is not this: a side issue, not the cause
            f["_priority"] = 5
            f["note"] = "seen earlier in the log, before the final exception"
        findings.append(f)
    return findings


def _finding(rule: rules.Rule, numbers: dict, evidence: list, ctx: dict, offset: int, occurrences: int = 1,
             confidence: float | None = None) -> dict[str, Any]:
    return {"category": rule.id, "title": rule.title, "severity": rule.severity,
            "confidence": confidence if confidence is not None else rule.confidence,
            "summary": rule.summary(numbers) if rule.summary else rule.title,
            "numbers": numbers, "evidence": evidence, "fixes": rule.fixes(numbers, ctx), "occurrences": occurrences,
            "_priority": rule.priority, "_offset": offset}


def _context(log: Path, hit: Hit, before: int = 4096, after: int = 8192) -> list[str]:
    """Cleaned lines around a hit: multi-line messages (CUDA warnings, HF errors) continue on the next lines."""
    start = max(0, hit.offset - before)
    data = read_range(log, start, hit.offset - start + len(hit.text) + after)
    lines = data.split(b"\n")
    if start > 0:
        lines = lines[1:]
    return [clean(line) for line in lines[:200]]


def _parse_traceback(log: Path, header: Hit) -> dict[str, Any]:
    """Exception type, message and the user's own frame of the traceback starting at `header`."""
    data = read_range(log, header.offset, 256 << 10)
    raw_lines = data.split(b"\n")
    frames, exc, exc_idx = [], None, None
    for i, raw in enumerate(raw_lines[:3000]):
        line = clean(raw)
        m = _FRAME.match(line) or _RICH_FRAME.search(line)
        if m:
            frames.append((i, {"file": m["file"], "line": int(m["line"]), "function": m["func"].strip()}))
            continue
        if i == 0 or line.startswith((" ", "\t", "│", "╰", "╭", "|")) or not line.strip():
            continue
        e = _EXC.match(line.strip())
        if e and frames:
            exc, exc_idx = e, i
            nxt = clean(raw_lines[i + 1]) if i + 1 < len(raw_lines) else ""
            if not (nxt.startswith(("Traceback", "During handling", "The above exception")) or
                    nxt.strip().startswith(("Traceback", "During handling", "The above exception"))):
                break
            frames = []  # chained: keep reading for the final exception
    if not exc:
        return {}
    user = [f for _, f in frames if not _SITE.search(f["file"])]
    frame = user[-1] if user else None
    out: dict[str, Any] = {"exception_type": exc["type"], "message": (exc["msg"] or "").strip()[:500]}
    if frame:
        out["user_frame"] = frame
    if frames:
        out["last_frame"] = frames[-1][1]

    def ev(i: int) -> dict:
        line = None if header.line is None else header.line + i
        from_end = None if header.from_end is None else header.from_end - i
        return {"line": line, "from_end": from_end, "text": clean(raw_lines[i])[:400]}

    evidence = [ev(0)]
    if frame:
        idx = next(i for i, f in frames if f is frame)
        evidence.append(ev(idx))
    evidence.append(ev(exc_idx))
    out["evidence"] = evidence
    return out


def _finite_losses_before(log: Path, first_nan: Hit) -> list[float]:
    """The finite losses logged just before the first NaN (at most 64 KiB back)."""
    data = read_range(log, max(0, first_nan.offset - 65536), min(first_nan.offset, 65536))
    recs = progress.records_from_text(data)
    return [r["loss"] for r in recs if "loss" in r and r["loss"] == r["loss"] and abs(r["loss"]) != float("inf")]


def _status_evidence(status: dict) -> dict[str, Any]:
    return {"line": None, "from_end": None, "source": "status.json",
            "text": f"state {status.get('state')}: {status.get('reason') or ''}".strip()}


def _from_exit(status: dict, ctx: dict, findings: list[dict], tail: bytes) -> list[dict]:
    """Findings that only the exit code or signal can give (a SIGKILL prints nothing; a full disk may leave no
    message in a log that could not be written, but the supervisor records it)."""
    sig, code = status.get("signal"), status.get("exit_code")
    if status.get("disk_full") and not any(f["category"] == "disk_full" for f in findings):
        rule = rules.BY_ID["disk_full"]
        numbers = {"kind": "disk_full"}
        f = _finding(rule, numbers, [_status_evidence(status)], ctx, 1 << 62)
        f["summary"] = f"no space left on device: {status.get('reason') or 'the disk filled up'}"
        return [f]
    if sig is None and code in (137, 143, 130, 139, 134, 135):  # a shell reports a child's signal as 128+N
        sig = code - 128
    if sig is None:
        return []
    have = {f["category"] for f in findings}
    strong = any(f["_priority"] >= 80 for f in findings)
    out = []
    ev = [_status_evidence(status)]
    tail_text = tail.decode("utf-8", "replace")
    if sig == 9 and not ctx.get("stopped_by_request") and not strong and "host_oom" not in have:
        numbers = dict(ctx.get("resource_numbers") or {})
        conf = 0.6
        if numbers.get("peak_rss_gib") and numbers.get("host_memory_gib") and \
                numbers["peak_rss_gib"] >= 0.8 * numbers["host_memory_gib"]:
            conf = 0.85
        if numbers.get("min_available_gib") is not None and numbers.get("host_memory_gib") and \
                numbers["min_available_gib"] <= 0.05 * numbers["host_memory_gib"]:
            conf = 0.85
        if "Traceback (most recent call last)" in tail_text[-4096:]:
            conf = min(conf, 0.4)
        if re.search(r"(?m)^Killed\s*$", tail_text):
            ev.append({"line": None, "from_end": None, "text": "Killed"})
        rule = rules.BY_ID["host_oom"]
        f = _finding(rule, numbers, ev, ctx, 1 << 62, confidence=conf)
        f["summary"] = ("killed by SIGKILL with no Python error: most likely the kernel's out-of-memory killer "
                        "(host RAM), or someone ran kill -9") + (
            f"; peak RSS {numbers['peak_rss_gib']} GiB of {numbers.get('host_memory_gib', '?')} GiB"
            if numbers.get("peak_rss_gib") else "")
        out.append(f)
    elif sig == 15 and "sigterm" not in have:
        out.append(_finding(rules.BY_ID["sigterm"], rules._sigterm([], ctx), ev, ctx, 1 << 62))
    elif sig == 2 and "keyboard_interrupt" not in have:
        out.append(_finding(rules.BY_ID["keyboard_interrupt"], {}, ev, ctx, 1 << 62))
    elif sig in (11, 7, 6) and "segfault" not in have and not strong:
        out.append(_finding(rules.BY_ID["segfault"], rules._segv(tail_text.splitlines()[-200:], ctx), ev, ctx,
                            1 << 62))
    return out


def _suspicious(run, status: dict, log: Path, records: list[dict], stale_after: float) -> list[dict]:
    running = status.get("state") == "running"
    out = []
    for f in progress.health(records, running):
        f["evidence"] = [{"line": None, "from_end": None, "text": t} for t in f.pop("evidence_text")]
        f.update(occurrences=1, _priority=5, _offset=0)
        out.append(f)
    if running:
        idle = time.time() - log.stat().st_mtime
        if idle > stale_after:
            out.append({"category": "no_output", "title": "no output for a long time", "severity": "warning",
                        "confidence": 0.5, "summary": f"no output for {idle / 60:.0f} minutes (the log has not changed)",
                        "numbers": {"silent_s": round(idle)}, "evidence": [], "occurrences": 1,
                        "fixes": ["the run may hang (a deadlock in DataLoader workers or a collective): "
                                  "py-spy dump --pid <pid> shows where", "or it prints rarely: log every N steps "
                                  "with flush=True (PYTHONUNBUFFERED=1 is set by expkit launch)"],
                        "_priority": 5, "_offset": 0})
        samples = resources.latest(run.path, 6) if run else []
        gpu_utils = [g.get("util_pct") for s in samples for g in s.get("gpus") or [] if "util_pct" in g]
        if len(samples) >= 6 and gpu_utils and max(gpu_utils) == 0:
            out.append({"category": "gpu_idle", "title": "GPU idle", "severity": "warning", "confidence": 0.5,
                        "summary": f"the run's GPUs were at 0% utilization in the last {len(samples)} samples",
                        "numbers": {"samples": len(samples)}, "evidence": [], "occurrences": 1,
                        "fixes": ["check that the model and batches are moved to the GPU (.to('cuda'))",
                                  "the input pipeline may be the bottleneck: more DataLoader workers, pin_memory=True"],
                        "_priority": 5, "_offset": 0})
    return out


# While a run is alive, these still mean it is broken (a NaN loss, a dead CUDA context, a rank that will hang);
# anything else it printed (a caught exception, an optional import) has been survived so far.
RUNNING_ERRORS = {"nan_loss", "cuda_oom", "cuda_device_assert", "cuda_illegal_memory", "nccl_timeout", "nccl_error",
                  "dataloader_worker", "host_oom", "disk_full"}


def _set_severity(findings: list[dict], state: str | None) -> None:
    """A succeeded run's printed errors were survived: warnings. A NaN loss is still an error."""
    for f in findings:
        if f["severity"] != "error":
            continue
        if state == "succeeded" and f["category"] != "nan_loss":
            f["severity"] = "warning"
        elif state == "running" and f["category"] not in RUNNING_ERRORS:
            f["severity"] = "warning"
    for f in findings:
        if f["category"] == "sigterm" and f["numbers"].get("stopped_by_request"):
            f["severity"] = "info"


def _unknown(status: dict, tail: bytes) -> dict[str, Any]:
    lines = [clean(x) for x in tail.split(b"\n") if x.strip()][-15:]
    code = status.get("exit_code")
    return {"category": "unknown", "title": "failed without a recognised error", "severity": "error",
            "confidence": 0.3,
            "summary": (status.get("reason") or f"exit code {code}") + ": no known error message in the log",
            "numbers": {"exit_code": code},
            "evidence": [_status_evidence(status)] + [{"line": None, "from_end": len(lines) - i, "text": t[:400]}
                                                      for i, t in enumerate(lines)],
            "fixes": ["read the last lines of the log (`expkit runs logs <id> -n 100`)",
                      "a script that calls sys.exit(N) or a shell step that fails exits this way: check the exit code's "
                      "meaning in the script"],
            "occurrences": 1}


def _verdict(status: dict, cause: dict | None, findings: list[dict]) -> str:
    state = status.get("state")
    if cause:
        prefix = f"{state}: " if state else ""
        return prefix + cause["summary"]
    warnings = [f for f in findings if f["severity"] == "warning"]
    if warnings:
        return (f"{state}, " if state else "") + "but: " + "; ".join(f["summary"] for f in warnings[:3])
    if state:
        return {"succeeded": "succeeded; nothing suspicious in the log",
                "running": "running; nothing suspicious so far",
                "queued": "queued; not started yet"}.get(state, f"{state}; no known error in the log")
    return "no known error in the log"
