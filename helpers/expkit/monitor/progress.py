"""Progress from what a training script prints: tqdm bars, `step 120/1000`, `loss=0.42`, HF Trainer dicts.

Only the end of the log is read (TAIL_BYTES), so this costs the same for a 10 MB and a 10 GB log.
"""

from __future__ import annotations

import json
import re
import statistics
from typing import Any

from expkit.monitor.logtext import read_tail, segments

TAIL_BYTES = 64 << 10  # the last few hundred progress lines: enough for position, trend and speed

_NUM = r"[-+]?(?:[0-9]+\.?[0-9]*(?:[eE][-+]?[0-9]+)?|\.[0-9]+|nan|NaN|inf|Inf)"
_BAR = re.compile(
    r"^(?P<desc>.*?):?\s*(?P<pct>[0-9]{1,3})%\|[^|]*\|\s*(?P<n>[0-9.]+[kMG]?)/(?P<total>[0-9.]+[kMG]?)\s*"
    r"\[(?P<elapsed>[0-9:]+)(?:<(?P<remaining>[0-9:?]+))?,\s*(?P<rate>[0-9.]+|\?)\s*(?P<unit>[A-Za-z]+/s|s/[A-Za-z]+)"
    r"(?:,\s*(?P<postfix>[^\]]*))?\]")
_BAR_NOTOTAL = re.compile(r"^(?P<desc>.*?):?\s*(?P<n>[0-9]+)(?P<u>[A-Za-z]+) \[(?P<elapsed>[0-9:]+),\s*"
                          r"(?P<rate>[0-9.]+|\?)\s*(?P<unit>[A-Za-z]+/s|s/[A-Za-z]+)")
_KV = re.compile(r"(?P<q>['\"]?)(?P<key>[A-Za-z][\w./-]*)(?P=q)\s*(?P<sep>[=:])\s*(?:tensor\()?(?P<vq>['\"]?)(?P<val>"
                 + _NUM + r")(?P=vq)(?![\w.])")
_OF = re.compile(r"\b(?P<what>[Ss]tep|STEP|[Ii]ter(?:ation)?|[Ee]poch|EPOCH|[Bb]atch)\s*[:=]?\s*\[?\s*(?P<n>[0-9]+)\s*"
                 r"(?:/|of)\s*(?P<total>[0-9]+)")
_EPOCH_DESC = re.compile(r"[Ee]poch\s*([0-9]+)")
_SPACED = re.compile(r"\b(?P<split>(?:train|training|val|valid|validation|eval|test)[ _])?(?P<key>loss|acc|accuracy|lr|"
                     r"ppl|perplexity|reward|return)\s+(?P<val>" + _NUM + r")(?![\w.])", re.I)
# what scripts print besides key=value: the step (`iter 60:`, `step 60:`, `40 | loss`, `after 802 batches`,
# `| epoch 3 |  50/ 52 batches |`, keras' ` 50/50 ━━━` or ` 50/50 - 9s`), an epoch without a total, a speed in
# ms per step or steps per second, a table row `| total_timesteps | 3072 |`, a JSON object per line
_STEP_WORD = re.compile(r"(?:^|[\s|\[(])(?:[Ss]tep|STEP|[Ii]ter(?:ation)?|[Ee]pisode|[Uu]pdate)s?\s*[:=#]?\s*(?P<n>[0-9]+)"
                        r"(?![0-9.]|\s*/|\s*of\b)")
_STEP_LEAD = re.compile(r"^\s*(?P<n>[0-9]+)\s*\|\s*(?:loss|train)")
_BATCHES = re.compile(r"(?:(?P<n>[0-9]+)\s*/\s*(?P<total>[0-9]+)\s+(?:batches|steps|iters|it\b))|"
                      r"after\s+(?P<after>[0-9]+)\s+(?:batches|steps|iterations)")
_KERAS = re.compile(r"^\s*(?P<n>[0-9]+)/(?P<total>[0-9]+)\s+(?:[━═=>.\[\] -]*\s)?(?:ETA:\s*)?(?P<t>[0-9hms:. ]+?)\s+"
                    r"(?:-\s+)?(?P<per>[0-9.]+)(?P<unit>us|ms|s)/step")
_RICH = re.compile(r"━+\s+(?P<n>[0-9]+)/(?P<total>[0-9]+)\s+(?P<elapsed>[0-9:]+)\s+•\s+(?P<remaining>[0-9:-]+)"
                   r"(?:\s+(?P<rate>[0-9.]+)\s*it/s)?")
_EPOCH_ONLY = re.compile(r"\b[Ee]poch\b[\s:\[#]*(?P<n>[0-9]+)\b(?!\s*/|\s*of\b)")
_MS_PER = re.compile(r"(?:ms/(?:batch|step|it)\s*[:=]?\s*(?P<a>[0-9.]+))|(?:(?P<b>[0-9.]+)\s*ms/(?:step|it|batch)\b)|"
                     r"(?:\btime[:=]?\s+(?P<c>[0-9.]+)\s*ms\b)|(?:\|\s*(?P<d>[0-9.]+)ms\s*\|)")
_PER_SEC = re.compile(r"\b(?:SPS|sps|fps|steps_per_second|it_per_sec|samples_per_second)\b['\"]?\s*[:=|]\s*['\"]?"
                      r"(?P<v>[0-9.]+)")
_TABLE_ROW = re.compile(r"^\|\s+(?P<key>[A-Za-z][\w/ .-]*?)\s+\|\s+(?P<val>" + _NUM + r")\s+\|\s*$")
# a script echoing its configuration (`Overriding: batch_size = 8`, `eval_iters = 200 # comment`,
# `found vocab_size = 65 (inside meta.pkl)`,
# `Namespace(lr=0.1, ...)`): settings, not measurements
_CONFIG_ECHO = re.compile(r"^\s*(?:Overriding\b|Namespace\(|(?:found|using|setting)\s+[A-Za-z_][\w.]*\s+=\s|"
                          r"[A-Za-z_][\w.]*\s+=\s+[^=,]+$)", re.I)
_EVAL_PREFIX = re.compile(r"^(val|valid|validation|eval|test|dev)(_|/|\b)", re.I)
# what an evaluation series measures (eval_loss, val_accuracy), not a setting (eval_interval) or a timing
_EVAL_METRIC = re.compile(r"loss|acc|f1|auc|bleu|rouge|ppl|perplexity|precision|recall|iou|map|wer|cer|err|score|"
                          r"reward|return|mse|mae|top[0-9]|nll|bpb|bpc", re.I)
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
    for m in _SPACED.finditer(text):  # `loss 0.42`, `valid loss 1.97` as printed by hand-written loops
        split = (m.group("split") or "").strip(" _").lower()
        out.setdefault(f"{split}_{m.group('key')}" if split else m.group("key"), float(m.group("val")))
    return out


def is_config_echo(text: str) -> bool:
    """A script printing its settings (`Overriding: batch_size = 8`, `Namespace(lr=0.1)`), not measurements."""
    return bool(_CONFIG_ECHO.match(text.strip()))


def _json_record(text: str) -> dict[str, Any] | None:
    """A JSON object per line (metrics logs, SB3's json logger): its numbers are the metrics."""
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    metrics = {k: float(v) for k, v in obj.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return _finish({}, metrics) if metrics else None


def parse_segment(text: str) -> dict[str, Any] | None:
    """One progress record from one line (or one tqdm redraw), None when it says nothing about progress."""
    stripped = text.strip()
    if _CONFIG_ECHO.match(stripped):
        return None
    if stripped.startswith("{") and stripped.endswith("}") and '"' in stripped:
        rec = _json_record(stripped)
        if rec is not None:
            return rec
    rec: dict[str, Any] = {}
    row = _TABLE_ROW.match(stripped) if stripped.startswith("|") else None
    if row:  # one row of a `| key | value |` table (stable-baselines3): one metric per line
        key = row["key"].strip().replace(" ", "_")
        return _finish(rec, {key: float(row["val"])}, strict_loss=True)
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
        _script_position(text, rec)
        _script_speed(text, rec)
    return _finish(rec, metrics)


def _script_position(text: str, rec: dict[str, Any]) -> None:
    """The step and epoch as the script numbers them, from the forms hand-written loops and libraries print."""
    if "step" not in rec:
        m = _KERAS.match(text) or _RICH.search(text)
        if m:
            rec.update(step=int(m["n"]), total=int(m["total"]), kind="bar", group="keras" if m.re is _KERAS else "rich")
            if m.re is _RICH:
                rec["elapsed_s"], rec["remaining_s"] = _clock(m["elapsed"]), _clock(m["remaining"])
                if m["rate"]:
                    rec["rate"] = float(m["rate"])
            else:
                per = float(m["per"]) * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[m["unit"]]
                rec["rate"] = 1 / per if per else None
                if int(m["n"]) < int(m["total"]):
                    rec["remaining_s"] = _duration(m["t"])
    if "step" not in rec:
        m = _BATCHES.search(text)
        if m and m["after"]:
            rec["step"] = int(m["after"])
        elif m:
            rec.update(step=int(m["n"]), total=int(m["total"]))
    if "step" not in rec:
        m = _STEP_LEAD.match(text) or _STEP_WORD.search(text)
        if m:
            rec["step"] = int(m["n"])
    if "epoch" not in rec:
        m = _EPOCH_ONLY.search(text)
        if m:
            rec["epoch"] = int(m["n"])


def _script_speed(text: str, rec: dict[str, Any]) -> None:
    """`ms/batch 24.55`, `time 57.11ms`, `| 35.80ms |`, `184ms/step` -> it/s; `SPS: 93`, `fps | 87` -> steps/s."""
    if rec.get("rate"):
        return
    m = _MS_PER.search(text) if "ms" in text else None
    if m:
        ms = float(next(v for v in m.groups() if v))
        if ms > 0:
            rec.update(rate=1000.0 / ms, kind=rec.get("kind", "bar"), group=rec.get("group", "log"))
        return
    m = _PER_SEC.search(text)
    if m and float(m["v"]) > 0:
        rec.update(rate=float(m["v"]), kind=rec.get("kind", "bar"), group=rec.get("group", "log"))


def _duration(text: str) -> float | None:
    """Keras' `1m 5s`, `17s`, `0:01:05` -> seconds."""
    text = text.strip()
    if ":" in text:
        return _clock(text)
    secs, found = 0.0, False
    for value, unit in re.findall(r"([0-9.]+)\s*(h|m|s)", text):
        secs += float(value) * {"h": 3600, "m": 60, "s": 1}[unit]
        found = True
    return secs if found else None


def _finish(rec: dict[str, Any], metrics: dict[str, float], strict_loss: bool = False) -> dict[str, Any] | None:
    """Position, loss and metrics from the key/value pairs. A plain line with a val/eval/test value is an
    evaluation (its train loss is an estimate, not a step's); a run's closing summary (train_runtime) is not a
    step either. `strict_loss`: only a key named loss counts (a table row of value_loss is not the loss)."""
    for key in ("time/total_timesteps", "total_timesteps", "global_step", "step", "iter", "iteration", "it",
                "train/global_step"):
        if key in metrics and "step" not in rec:
            rec["step"] = int(metrics[key])
    for key in ("epoch", "Epoch"):
        if key in metrics and "epoch" not in rec:
            rec["epoch"] = metrics[key]
    if "rate" not in rec:
        for key in ("time/fps", "fps", "train_steps_per_second", "steps_per_second"):
            if key in metrics and metrics[key] > 0:
                rec.update(rate=metrics[key], kind="bar", group="log")
                break
    evals = {k: v for k, v in metrics.items() if _EVAL_PREFIX.match(k) and _EVAL_METRIC.search(k)}
    if evals:
        rec["eval"] = evals
    loss = _pick_loss(metrics, strict_loss)
    summary = any(k.endswith("_runtime") for k in metrics)
    if loss is not None and not summary and not (evals and rec.get("kind") != "bar" and _is_eval_estimate(metrics)):
        rec["loss"] = loss
    if metrics:
        rec["metrics"] = metrics
    return rec or None


def _is_eval_estimate(metrics: dict[str, float]) -> bool:
    """`step 60: train loss 2.18, val loss 2.18`: the train loss of an evaluation pass is not a training step's."""
    return not any(k.lower() in ("loss", "train/loss") for k in metrics)


def _pick_loss(metrics: dict[str, float], strict: bool = False) -> float | None:
    lowered = {k.lower(): v for k, v in metrics.items()}
    for key in ("loss", "train_loss", "train/loss", "loss_step", "train_loss_step", "training_loss"):
        if key in lowered:
            return lowered[key]
    if strict:
        return None
    for key, value in lowered.items():
        if key.endswith("loss") and not _EVAL_PREFIX.match(key) and not key.startswith(("train_runtime",)):
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
    for r_i, r in enumerate(records):  # positions, to tell which of a step line and a bar came last
        r["_i"] = r_i
    steps = [r for r in records if "step" in r]
    if steps and (not last_bar or "n" not in last_bar or steps[-1]["_i"] > last_bar["_i"]):
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
    evals: dict[str, float] = {}
    for r in records:
        evals.update(r.get("eval") or {})
    if evals:  # the latest value of each validation/test series, kept apart from the training loss
        out["eval"] = evals
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
