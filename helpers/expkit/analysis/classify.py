"""Per-class precision, recall and F1 and a confusion matrix from a run's saved labels and predictions.

Reads predictions.csv / .tsv (columns label,prediction; also y_true,y_pred or target,pred), .jsonl (one
{"label": .., "prediction": ..} per line) or .npz (arrays labels and predictions) from the run dir.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from expkit.errors import ExpkitError

CANDIDATES = ("predictions.csv", "predictions.tsv", "predictions.jsonl", "predictions.npz", "preds.csv")
_TRUE = ("label", "labels", "y_true", "target", "true", "gold")
_PRED = ("prediction", "predictions", "y_pred", "pred", "predicted")


def find_file(run_dir: Path, name: str | None) -> Path:
    if name:
        path = Path(name) if Path(name).is_absolute() else run_dir / name
        if not path.exists():
            raise ExpkitError(f"no predictions file {path}", "give a file saved by the run (CSV, JSONL or NPZ)")
        return path
    for cand in CANDIDATES:
        if (run_dir / cand).exists():
            return run_dir / cand
    raise ExpkitError(f"the run saved no predictions file ({', '.join(CANDIDATES)}) in {run_dir}",
                      "save labels and predictions from the training script, e.g. a CSV with columns label,prediction "
                      "in $EXPKIT_RUN_DIR, or pass --file")


def _col(names: list[str], wanted: tuple[str, ...], path: Path) -> str:
    low = {n.lower().strip(): n for n in names}
    for w in wanted:
        if w in low:
            return low[w]
    raise ExpkitError(f"{path.name} has no {wanted[0]} column (columns: {', '.join(names)})",
                      f"name the columns {_TRUE[0]} and {_PRED[0]}")


def load_pairs(path: Path) -> tuple[list[str], list[str]]:
    suffix = path.suffix.lower()
    if suffix == ".npz":
        import numpy as np

        data = np.load(path, allow_pickle=False)
        t = _col(list(data.files), _TRUE, path)
        p = _col(list(data.files), _PRED, path)
        return [str(x) for x in data[t].tolist()], [str(x) for x in data[p].tolist()]
    if suffix == ".jsonl":
        rows = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
        if not rows:
            raise ExpkitError(f"{path} is empty", "the run wrote no predictions")
        t, p = _col(list(rows[0]), _TRUE, path), _col(list(rows[0]), _PRED, path)
        return [str(r[t]) for r in rows], [str(r[p]) for r in rows]
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ",")
        rows = list(reader)
        if not rows:
            raise ExpkitError(f"{path} has no rows", "the run wrote no predictions")
        t, p = _col(reader.fieldnames or [], _TRUE, path), _col(reader.fieldnames or [], _PRED, path)
        return [r[t].strip() for r in rows], [r[p].strip() for r in rows]


def _sort_key(x: str):
    try:
        return (0, float(x), x)
    except ValueError:
        return (1, 0.0, x)


def classification_report(labels: list[str], preds: list[str]) -> dict[str, Any]:
    if len(labels) != len(preds):
        raise ExpkitError(f"{len(labels)} labels but {len(preds)} predictions", "save one prediction per example")
    classes = sorted(set(labels) | set(preds), key=_sort_key)
    idx = {c: i for i, c in enumerate(classes)}
    cm = [[0] * len(classes) for _ in classes]
    for t, p in zip(labels, preds):
        cm[idx[t]][idx[p]] += 1
    per = []
    for c in classes:
        i = idx[c]
        tp = cm[i][i]
        support = sum(cm[i])
        predicted = sum(row[i] for row in cm)
        prec = tp / predicted if predicted else 0.0
        rec = tp / support if support else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per.append({"class": c, "precision": prec, "recall": rec, "f1": f1, "support": support})
    n = len(labels)
    with_support = [r for r in per if r["support"]]
    macro = {k: sum(r[k] for r in with_support) / len(with_support) for k in ("precision", "recall", "f1")}
    weighted = {k: sum(r[k] * r["support"] for r in per) / n for k in ("precision", "recall", "f1")}
    return {"n": n, "accuracy": sum(cm[i][i] for i in range(len(classes))) / n, "classes": classes,
            "per_class": per, "macro": macro, "weighted": weighted, "confusion_matrix": cm}


def confusion_plot(report: dict[str, Any], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm, classes = report["confusion_matrix"], report["classes"]
    size = max(4.0, 0.5 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    top = max(max(r) for r in cm) or 1
    if len(classes) <= 30:
        for i, row in enumerate(cm):
            for j, v in enumerate(row):
                ax.text(j, i, str(v), ha="center", va="center", color="white" if v > top / 2 else "black", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def render_text(r: dict[str, Any]) -> str:
    w = max([len(c) for c in r["classes"]] + [8])
    lines = [f"{'class':<{w}}  precision  recall  f1      support"]
    for row in r["per_class"]:
        lines.append(f"{row['class']:<{w}}  {row['precision']:<9.3f}  {row['recall']:<6.3f}  {row['f1']:<6.3f}  "
                     f"{row['support']}")
    for name in ("macro", "weighted"):
        m = r[name]
        lines.append(f"{name + ' avg':<{w}}  {m['precision']:<9.3f}  {m['recall']:<6.3f}  {m['f1']:<6.3f}  {r['n']}")
    lines.append(f"accuracy {r['accuracy']:.3f} on {r['n']} examples")
    if r.get("plot"):
        lines.append(f"confusion matrix: {r['plot']}")
    return "\n".join(lines)
