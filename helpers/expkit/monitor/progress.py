"""Progress from what a training script prints: tqdm bars, `step 120/1000`, `loss=0.42`, HF Trainer dicts.

Only the end of the log is read (TAIL_BYTES), so this costs the same for a 10 MB and a 10 GB log.
"""

from __future__ import annotations

import re
import statistics
from typing import Any

from expkit.monitor.logtext import read_tail, segments

TAIL_BYTES = 256 << 10

_NUM = r"[-+]?(?:[0-9]+\.?[0-9]*(?:[eE][-+]?[0-9]+)?|\.[0-9]+|nan|NaN|inf|Inf)"
_BAR = re.compile(
    r"^(?P<desc>.*?):?\s*(?P<pct>[0-9]{1,3})%\|[^|]*\|\s*(?P<n>[0-9.]+[kMG]?)/(?P<total>[0-9.]+[kMG]?)\s*"
    r"\[(?P<elapsed>[0-9:]+)(?:<(?P<remaining>[0-9:?]+))?,\s*(?P<rate>[0-9.]+|\?)\s*(?P<unit>[A-Za-z]+/s|s/[A-Za-z]+)"
    r"(?:,\s*(?P<postfix>[^\]]*))?\]")
_BAR_NOTOTAL = re.compile(r"^(?P<desc>.*?):?\s*(?P<n>[0-9]+)(?P<u>[A-Za-z]+) \[(?P<elapsed>[0-9:]+),\s*"
                          r"(?P<rate>[0-9.]+|\?)\s*(?P<unit>[A-Za-z]+/s|s/[A-Za-z]+)")
_KV = re.compile(r"(?P<q>['\"]?)(?P<key>[A-Za-z][\w./-]*)(?P=q)\s*(?P<sep>[=:])\s*(?:tensor\()?(?P<val>" + _NUM + r")(?![\w.])")
_OF = re.compile(r"\b(?P<what>[Ss]tep|STEP|[Ii]ter(?:ation)?|[Ee]poch|EPOCH|[Bb]atch)\s*[:=]?\s*\[?\s*(?P<n>[0-9]+)\s*"
                 r"(?:/|of)\s*(?P<total>[0-9]+)")
_EPOCH_DESC = re.compile(r"[Ee]poch\s*([0-9]+)")
_SPACED = re.compile(r"\b(?P<key>(?:train_|val_|eval_|test_)?(?:loss|acc|accuracy|lr|ppl|perplexity))\s+(?P<val>"
                     + _NUM + r")(?![\w.])", re.I)
_RATE = re.compile(r"(?<![\w.])(?P<rate>[0-9]+\.?[0-9]*)\s*(?P<unit>it/s|s/it)\b")
METRIC_HINT = re.compile(r"loss|acc|f1|auc|bleu|rouge|perplexity|ppl|lr|learning_rate|grad_norm|mse|mae|rmse|"
                         r"reward|score|precision|recall|iou|map|wer|cer|top[15]|error|err|throughput|samples_per|"
                         r"tokens_per|step|epoch|time|it/s", re.I)
_SKIP_KEYS = {"v_num", "pid", "rank", "port", "line", "seed", "Errno", "errno"}


def _num(text: str) -> float:
    mult = {"k": 1e3, "M": 1e6, "G": 1e9}.get(text[-1:], 1)
    return float(text.rstrip("kMG")) * mult


def _clock(text: str | None) -> float | None:
    if not text or "?" in text:
        return None
    secs = 0.0
    for part in text.split(":"):
        secs = secs * 60 + float(part)
    return secs


def parse_kv(text: str) -> dict[str, float]:
    """`loss=0.42, acc: 0.9, {'eval_loss': 0.3}` -> {loss: 0.42, acc: 0.9, eval_loss: 0.3}.

    `key=value` and quoted dict keys are taken for any key; `key: value` only for metric-like names, so
    timestamps and prose do not turn into metrics."""
    out: dict[str, float] = {}
    for m in _KV.finditer(text):
        key = m.group("key")
        if key in _SKIP_KEYS:
            continue
        if m.group("sep") == ":" and not m.group("q") and not METRIC_HINT.search(key):
            continue
        try:
            out[key] = float(m.group("val"))
        except ValueError:
            continue
    for m in _SPACED.finditer(text):  # `loss 0.42` as printed by hand-written loops
        out.setdefault(m.group("key"), float(m.group("val")))
    return out


def parse_segment(text: str) -> dict[str, Any] | None:
    """One progress record from one line (or one tqdm redraw), None when it says nothing about progress."""
    rec: dict[str, Any] = {}
    bar = _BAR.search(text) if "%|" in text else None
    if bar:
        rec.update(kind="bar", n=_num(bar["n"]), total=_num(bar["total"]), elapsed_s=_clock(bar["elapsed"]),
                   remaining_s=_clock(bar["remaining"]), group=re.sub(r"[0-9]+", "#", bar["desc"].strip()) or "bar")
        if bar["rate"] != "?":
            rate = float(bar["rate"])
            rec["rate"] = (1 / rate if rate else None) if bar["unit"].startswith("s/") else rate
        desc_epoch = _EPOCH_DESC.search(bar["desc"])
        if desc_epoch:
            rec["epoch"] = int(desc_epoch.group(1))
        metrics = parse_kv(bar["postfix"] or "")
    else:
        has_rate = "it/s" in text or "s/it" in text
        nt = _BAR_NOTOTAL.search(text) if has_rate and " [" in text else None
        if nt and nt["rate"] != "?":
            rate = float(nt["rate"])
            rec.update(kind="bar", n=float(nt["n"]), group=re.sub(r"[0-9]+", "#", nt["desc"].strip()) or "bar",
                       rate=(1 / rate if rate else None) if nt["unit"].startswith("s/") else rate,
                       elapsed_s=_clock(nt["elapsed"]))
        metrics = parse_kv(text)
        rate = _RATE.search(text) if has_rate else None
        if rate and "rate" not in rec and float(rate["rate"]) > 0:
            value = float(rate["rate"])
            rec.update(kind="bar", group="log", rate=1 / value if rate["unit"] == "s/it" else value)
        for m in _OF.finditer(text) if "/" in text or " of " in text else ():
            what = m["what"].lower()
            if what.startswith("epoch"):
                rec.update(epoch=int(m["n"]), epochs=int(m["total"]))
            else:
                rec.update(step=int(m["n"]), total=int(m["total"]))
    for key in ("global_step", "step", "iter", "iteration", "it"):
        if key in metrics and "step" not in rec:
            rec["step"] = int(metrics[key])
    if "epoch" in metrics and "epoch" not in rec:
        rec["epoch"] = metrics["epoch"]
    loss = _pick_loss(metrics)
    if loss is not None:
        rec["loss"] = loss
    if metrics:
        rec["metrics"] = metrics
    return rec or None


def _pick_loss(metrics: dict[str, float]) -> float | None:
    if "loss" in metrics:
        return metrics["loss"]
    for key in ("train_loss", "train/loss", "loss_step", "train_loss_step", "training_loss"):
        if key in metrics:
            return metrics[key]
    for key, value in metrics.items():
        low = key.lower()
        if low.endswith("loss") and not low.startswith(("val", "eval", "test", "valid")):
            return value
    return None


def records_from_text(data: bytes | str) -> list[dict[str, Any]]:
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    recs = []
    for line in data.split("\n"):
        for seg in segments(line):
            rec = parse_segment(seg)
            if rec:
                rec["text"] = seg.strip()[:300]
                recs.append(rec)
    return recs


def read_records(path, nbytes: int = TAIL_BYTES) -> list[dict[str, Any]]:
    try:
        data, _ = read_tail(path, nbytes)
    except FileNotFoundError:
        return []
    return records_from_text(data)


def trend(values: list[float]) -> tuple[str, float | None]:
    """falling | flat | rising | unknown over a series, and the relative change between its first and last third."""
    vals = [v for v in values if v == v and abs(v) != float("inf")]
    if len(vals) < 6:
        return "unknown", None
    third = max(2, len(vals) // 3)
    a, b = statistics.median(vals[:third]), statistics.median(vals[-third:])
    rel = (b - a) / abs(a) if a else (0.0 if b == a else float("inf"))
    if rel < -0.02:
        return "falling", rel
    if rel > 0.05:
        return "rising", rel
    return "flat", rel


def summarize(records: list[dict[str, Any]], elapsed_s: float | None = None, window: int = 50) -> dict[str, Any]:
    """The latest position (step/total, epoch), loss and its trend, it/s and ETA."""
    out: dict[str, Any] = {}
    if not records:
        return out
    bars = [r for r in records if r.get("kind") == "bar"]
    train_group = _main_group(bars)
    main_bars = [r for r in bars if r["group"] == train_group]
    last_bar = main_bars[-1] if main_bars else None
    steps = [r for r in records if "step" in r]
    if steps and (not last_bar or "n" not in last_bar or records.index(steps[-1]) > records.index(last_bar)):
        s = steps[-1]
        out["step"] = s["step"]
        if s.get("total"):
            out["total"] = s["total"]
    elif last_bar and "n" in last_bar:
        out["step"] = int(last_bar["n"])
        if last_bar.get("total"):
            out["total"] = int(last_bar["total"])
    epochs = [r for r in records if "epoch" in r]
    if epochs:
        out["epoch"] = epochs[-1]["epoch"]
        if epochs[-1].get("epochs"):
            out["epochs"] = epochs[-1]["epochs"]
    if out.get("total"):
        out["pct"] = round(100.0 * out["step"] / out["total"], 1) if out["total"] else None
    losses = [r["loss"] for r in records if "loss" in r]
    if losses:
        out["loss"] = losses[-1]
        direction, rel = trend(losses[-window:])
        out["loss_trend"] = direction
        if rel is not None:
            out["loss_change"] = round(rel, 4)
        out["loss_points"] = len(losses[-window:])
    rates = [r["rate"] for r in main_bars if r.get("rate")]
    if rates:
        out["rate"] = round(rates[-1], 3)
        out["rate_unit"] = "it/s"
    if last_bar and last_bar.get("remaining_s") is not None and last_bar is main_bars[-1]:
        out["eta_s"] = last_bar["remaining_s"]
    elif out.get("total") and out.get("rate"):
        out["eta_s"] = max(0.0, (out["total"] - out["step"]) / out["rate"])
    elif out.get("total") and elapsed_s and out.get("step"):
        out["eta_s"] = max(0.0, (out["total"] - out["step"]) * elapsed_s / out["step"])
    out["last_line"] = records[-1]["text"]
    return out


def _main_group(bars: list[dict]) -> str | None:
    """The training bar's group: the one with the most redraws (evaluation bars come and go)."""
    if not bars:
        return None
    counts: dict[str, int] = {}
    for b in bars:
        counts[b["group"]] = counts.get(b["group"], 0) + 1
    return max(counts, key=counts.get)


def health(records: list[dict[str, Any]], running: bool, window: int = 50) -> list[dict[str, Any]]:
    """Healthy-but-suspicious signs: the loss rising (or flat while still running), throughput dropping."""
    found = []
    losses = [(i, r) for i, r in enumerate(records) if "loss" in r]
    values = [r["loss"] for _, r in losses][-window:]
    direction, rel = trend(values)
    if direction == "rising" or (direction == "flat" and running and len(values) >= 20):
        first, last = losses[-len(values)][1], losses[-1][1]
        found.append({
            "category": "loss_not_improving", "title": "loss not improving", "severity": "warning",
            "confidence": 0.6 if direction == "rising" else 0.4,
            "summary": f"the loss is {direction} over the last {len(values)} logged values "
                       f"({values[0]:.4g} -> {values[-1]:.4g}, {rel:+.1%})",
            "numbers": {"points": len(values), "first": values[0], "last": values[-1], "change": round(rel, 4)},
            "evidence_text": [first["text"], last["text"]],
            "fixes": ["if it is rising: lower the learning rate or check the schedule (a warmup that ends in a "
                      "too-high LR)", "if it is flat early: check that the optimizer steps (optimizer.step(), "
                      "zero_grad, a non-zero LR) and that labels match inputs",
                      "if it has converged: stop early and save compute"]})
    bars = [r for r in records if r.get("kind") == "bar" and r.get("rate")]
    group = _main_group(bars)
    rates = [r["rate"] for r in bars if r["group"] == group]
    if len(rates) >= 20:
        early, late = statistics.median(rates[: len(rates) // 2]), statistics.median(rates[-5:])
        if early > 0 and late < 0.5 * early:
            found.append({
                "category": "throughput_drop", "title": "throughput dropping", "severity": "warning",
                "confidence": 0.6,
                "summary": f"training speed fell from {early:.3g} to {late:.3g} it/s",
                "numbers": {"early_rate": early, "recent_rate": late},
                "evidence_text": [r["text"] for r in bars if r["group"] == group][-1:],
                "fixes": ["look for a memory leak or growing state (tensors kept in a list without .item()/.detach())",
                          "check the data pipeline (DataLoader workers, disk/network reads) and GPU utilization "
                          "with `expkit runs watch`", "another process may share the GPU or CPU"]})
    return found
