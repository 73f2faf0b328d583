"""Handlers for C1 (a linear model is sufficient). Pure Python and tiny: they run anywhere in well under a second.

e1_1 meets its criterion, e1_2 misses one (a real, scientific "pivot"), and e1_3 fails on its first run
because its feature cache is cold (it builds the cache, then raises): `expkit plan run ... --rerun-failed`
re-runs only e1_3, which then succeeds.
"""

from __future__ import annotations

import json
import math
import random


def _clusters(rng: random.Random, n: int, gap: float = 0.5):
    """Two overlapping 2-D Gaussian clusters, labels 0/1."""
    data = []
    for i in range(n):
        label = i % 2
        centre = gap if label else -gap
        data.append(((rng.gauss(centre, 1.0), rng.gauss(centre, 1.0)), label))
    return data


def _train_logistic(runner, train, steps: int = 60, lr: float = 0.5):
    w, b = [0.0, 0.0], 0.0
    for step in range(steps):
        gw, gb, loss = [0.0, 0.0], 0.0, 0.0
        for (x1, x2), y in train:
            p = 1 / (1 + math.exp(-(w[0] * x1 + w[1] * x2 + b)))
            loss -= y * math.log(p + 1e-12) + (1 - y) * math.log(1 - p + 1e-12)
            gw[0] += (p - y) * x1
            gw[1] += (p - y) * x2
            gb += p - y
        n = len(train)
        w = [w[0] - lr * gw[0] / n, w[1] - lr * gw[1] / n]
        b -= lr * gb / n
        if runner is not None and step % 5 == 0:
            runner.log_metrics({"train_loss": loss / n}, step=step)
    return w, b


def _predict(w, b, x):
    return 1 / (1 + math.exp(-(w[0] * x[0] + w[1] * x[1] + b)))


def fit_line(runner):
    """e1_1: gradient descent on y = 2x + 1 + noise. The held-out mse is close to the noise variance."""
    rng = random.Random(runner.seed)
    points = [(x, 2 * x + 1 + rng.gauss(0, 0.1)) for x in (rng.uniform(-1, 1) for _ in range(300))]
    train, test = points[:200], points[200:]
    a, c = 0.0, 0.0
    for step in range(200):
        ga = sum((a * x + c - y) * x for x, y in train) * 2 / len(train)
        gc = sum((a * x + c - y) for x, y in train) * 2 / len(train)
        a, c = a - 0.3 * ga, c - 0.3 * gc
        if step % 10 == 0:
            runner.log_metrics({"train_mse": sum((a * x + c - y) ** 2 for x, y in train) / len(train)}, step=step)
    mse = sum((a * x + c - y) ** 2 for x, y in test) / len(test)
    path = runner.results.save_json_artifact("e1_1_fit.json", {"slope": a, "intercept": c, "test_mse": mse})
    return {"finding": f"A line fits the regression data: held-out mse {mse:.4f} (slope {a:.2f}, intercept {c:.2f}).",
            "metrics": {"mse": mse}, "artifacts": [path]}


def classify(runner):
    """e1_2: logistic regression on overlapping clusters. Accuracy stays near 0.7: below the acceptable 0.8."""
    rng = random.Random(runner.seed)
    data = _clusters(rng, 400, gap=0.4)
    train, test = data[:300], data[300:]
    w, b = _train_logistic(runner, train)
    accuracy = sum((_predict(w, b, x) > 0.5) == bool(y) for x, y in test) / len(test)
    return {"finding": f"The linear classifier reaches {accuracy:.2f} held-out accuracy: the clusters overlap "
                       "too much for a linear boundary.",
            "metrics": {"accuracy": accuracy}, "artifacts": []}


def calibrate(runner):
    """e1_3: expected calibration error of the classifier, from a feature cache built on first use."""
    cache = runner.results.experiment_dir / ".feature-cache" / "c1_clusters.json"
    if not cache.exists():
        rng = random.Random(runner.seed)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(_clusters(rng, 600)))
        raise RuntimeError(f"feature cache was cold: built {cache.name}; re-run to use it")
    data = [(tuple(x), y) for x, y in json.loads(cache.read_text())]
    train, test = data[:400], data[400:]
    w, b = _train_logistic(None, train)
    bins = [[] for _ in range(10)]
    for x, y in test:
        p = _predict(w, b, x)
        bins[min(int(p * 10), 9)].append((p, y))
    ece = sum(abs(sum(p for p, _ in items) / len(items) - sum(y for _, y in items) / len(items)) * len(items)
              for items in bins if items) / len(test)
    runner.log_metrics({"calibration_error": ece})
    path = runner.results.save_artifact("e1_3_bins.txt", "\n".join(f"bin {i}: {len(items)} points"
                                                                   for i, items in enumerate(bins)) + "\n")
    return {"finding": f"The classifier is well calibrated: expected calibration error {ece:.3f}.",
            "metrics": {"calibration_error": ece}, "artifacts": [path]}


def get_handlers():
    return {"e1_1": fit_line, "e1_2": classify, "e1_3": calibrate}
