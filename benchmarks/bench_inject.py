"""Inject on a 1,500-line training script vs. a bare LibCST parse + code generation of the same file.

Target: inject <= 2x the baseline. Both are measured side by side in one process, interleaved, best of N,
because absolute times on a shared machine lie.

    python benchmarks/bench_inject.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "helpers"))

import libcst as cst  # noqa: E402

from expkit.inject import Options, inject_source  # noqa: E402

HELPER = '''

def augment_{i}(batch, p={p}, scale=1.0):
    """Random flips and noise for batch group {i}."""
    out = []
    for item in batch:
        if random.random() < p:
            item = item.flip(-1)  # horizontal flip
        noise = torch.randn_like(item) * 0.01 * scale
        out.append(item + noise)
    return torch.stack(out) if out else batch


class Block{i}(nn.Module):
    def __init__(self, width={w}, dropout=0.1):
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.norm = nn.LayerNorm(width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return x + self.drop(F.gelu(self.fc(self.norm(x))))
'''


def build_script(lines: int = 1500) -> str:
    base = (ROOT / "tests" / "inject_scripts" / "mnist_argparse.py").read_text()
    head, tail = base.split("\ndef train(", 1)
    head = head.replace("import argparse\n", "import argparse\nimport random\n")
    parts, i = [head], 0
    while sum(p.count("\n") for p in parts) + tail.count("\n") < lines - 25:
        parts.append(HELPER.format(i=i, p=0.5, w=16 + i))
        i += 1
    return "".join(parts) + "\ndef train(" + tail


def best(fn, repeat: int) -> float:
    t = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - start)
    return t


def main() -> None:
    src = build_script()
    n = src.count("\n")
    result = inject_source(src, Options(project="bench"), "big_train.py")
    assert result.changed and len(result.edits) >= 4, result.edits

    def baseline():
        cst.parse_module(src).code

    def inject():
        inject_source(src, Options(project="bench"), "big_train.py")

    base_t, inj_t = float("inf"), float("inf")
    for _ in range(5):  # interleave so both see the same machine load
        base_t = min(base_t, best(baseline, 3))
        inj_t = min(inj_t, best(inject, 3))
    ratio = inj_t / base_t
    print(f"script: {n} lines, {len(result.edits)} edits")
    print(f"baseline (libcst parse + codegen): {base_t * 1000:.1f} ms")
    print(f"expkit wandb inject (parse, analyse, plan, apply, codegen, re-parse check, diff): {inj_t * 1000:.1f} ms")
    print(f"ratio inject / baseline: {ratio:.2f}x (target <= 2.00x) {'OK' if ratio <= 2 else 'OVER TARGET'}")
    corpus()


def corpus() -> None:
    """The same comparison over the real-world corpus (tests/realworld/inject/): every script, one pass each."""
    from expkit.inject import CannotInject

    scripts = [(p.name, p.read_text(encoding="utf-8")) for p in sorted((ROOT / "tests/realworld/inject").glob("*.py"))]
    if not scripts:
        return

    def baseline():
        for _, text in scripts:
            cst.parse_module(text).code

    def inject():
        for name, text in scripts:
            try:
                inject_source(text, Options(sync_tensorboard=True), name)
            except CannotInject:
                pass

    base_t, inj_t = float("inf"), float("inf")
    for _ in range(3):
        base_t = min(base_t, best(baseline, 1))
        inj_t = min(inj_t, best(inject, 1))
    lines = sum(t.count("\n") for _, t in scripts)
    print(f"real-world corpus: {len(scripts)} scripts, {lines} lines: baseline {base_t * 1000:.0f} ms, "
          f"inject {inj_t * 1000:.0f} ms, ratio {inj_t / base_t:.2f}x")


if __name__ == "__main__":
    main()
