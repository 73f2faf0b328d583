"""A tiny, real training run: logistic regression by SGD on synthetic data, pure Python, CPU, seconds.

It reads its hyper-parameters from a JSON config, seeds itself from EXPKIT_SEED (set by `expkit launch`),
prints one progress line per epoch, and appends its metrics to metrics.jsonl in the run dir.
"""

import argparse
import json
import math
import os
import random
import time


def make_data(n, dim, rng):
    w_true = [rng.gauss(0, 1) for _ in range(dim)]
    xs, ys = [], []
    for _ in range(n):
        x = [rng.gauss(0, 1) for _ in range(dim)]
        margin = sum(a * b for a, b in zip(w_true, x)) + rng.gauss(0, 0.5)
        xs.append(x)
        ys.append(1 if margin > 0 else 0)
    return xs, ys


def sigmoid(z):
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


def evaluate(w, b, xs, ys):
    loss, correct = 0.0, 0
    for x, y in zip(xs, ys):
        p = sigmoid(sum(a * c for a, c in zip(w, x)) + b)
        loss -= y * math.log(p + 1e-12) + (1 - y) * math.log(1 - p + 1e-12)
        correct += (p > 0.5) == bool(y)
    return loss / len(xs), correct / len(xs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="config.json")
    parser.add_argument("--epochs", type=int)
    args = parser.parse_args()
    with open(args.config) as fh:
        cfg = json.load(fh)
    if args.epochs:
        cfg["epochs"] = args.epochs
    seed = int(os.environ.get("EXPKIT_SEED", cfg.get("seed", 0)))
    rng = random.Random(seed)
    xs, ys = make_data(cfg["samples"], cfg["dim"], rng)
    split = int(0.8 * len(xs))
    train, val = (xs[:split], ys[:split]), (xs[split:], ys[split:])
    w, b = [0.0] * cfg["dim"], 0.0
    run_dir = os.environ.get("EXPKIT_RUN_DIR")
    sink = open(os.path.join(run_dir, "metrics.jsonl"), "a") if run_dir else None
    print(f"training on {split} samples, dim {cfg['dim']}, seed {seed}", flush=True)
    step = 0
    for epoch in range(1, cfg["epochs"] + 1):
        order = list(range(split))
        rng.shuffle(order)
        for i in order:
            x, y = train[0][i], train[1][i]
            g = sigmoid(sum(a * c for a, c in zip(w, x)) + b) - y
            w = [a - cfg["lr"] * g * c for a, c in zip(w, x)]
            b -= cfg["lr"] * g
            step += 1
        train_loss, _ = evaluate(w, b, *train)
        val_loss, val_acc = evaluate(w, b, *val)
        print(f"epoch={epoch} step={step} loss={train_loss:.4f} val_loss={val_loss:.4f} val_acc={val_acc:.4f}",
              flush=True)
        if sink:
            sink.write(json.dumps({"step": step, "epoch": epoch, "loss": train_loss, "val_loss": val_loss,
                                   "val_acc": val_acc, "time": time.time()}) + "\n")
            sink.flush()
        time.sleep(cfg.get("sleep_per_epoch", 0))
    print(f"done: val_acc={val_acc:.4f}", flush=True)


if __name__ == "__main__":
    main()
