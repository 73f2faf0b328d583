"""Property tests on generated training-loop scripts: the output parses, inject twice = inject once,
revert after inject gives back the exact bytes."""

from __future__ import annotations

import ast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from expkit.inject import Options, inject_file, inject_source, revert

NAMES = st.sampled_from(["loss", "train_loss", "batch_loss"])
CONFIGS = st.sampled_from([
    "args = parser.parse_args()",
    "cfg = {'lr': 0.1, 'epochs': 2}",
    "config = dict(lr=0.1)",
    "lr = 0.1",
    "",
])
STYLES = st.sampled_from(["module", "main", "train_fn", "guard"])
EXTRAS = st.lists(st.sampled_from([
    "# a comment",
    "",
    "print('epoch done')",
    "val_acc = evaluate(model)",
    "print(f'val_acc={val_acc:.3f}')",
    "scheduler.step()",
]), max_size=3)
NEWLINES = st.sampled_from(["\n", "\r\n"])
INDENTS = st.sampled_from(["    ", "  ", "\t"])
BACKWARD = st.sampled_from(["{loss}.backward()", "scaler.scale({loss}).backward()", "({loss} / 2).backward()"])


@st.composite
def scripts(draw):
    loss, config, style = draw(NAMES), draw(CONFIGS), draw(STYLES)
    extras, nl, ind, backward = draw(EXTRAS), draw(NEWLINES), draw(INDENTS), draw(BACKWARD)
    loop = ["for epoch in range(2):",
            f"{ind}for batch in loader:",
            f"{ind * 2}{loss} = model(batch)",
            f"{ind * 2}{backward.format(loss=loss)}",
            f"{ind * 2}opt.step()",
            *[f"{ind}{e}" if e else "" for e in extras]]
    head = ["import torch", "import argparse", "", "parser = argparse.ArgumentParser()"]
    if style == "module":
        body = head + [config] + loop
    elif style == "main":
        body = head + ["def main():"] + [f"{ind}{ln}" if ln else "" for ln in [config] + loop] + ["", "main()"]
    elif style == "train_fn":
        body = head + ["def train(model, loader):"] + [f"{ind}{ln}" if ln else "" for ln in loop] + [
            "", "def main():", f"{ind}{config or 'pass'}", f"{ind}train(model, loader)", "",
            'if __name__ == "__main__":', f"{ind}main()"]
    else:
        body = head + ['if __name__ == "__main__":'] + [f"{ind}{ln}" if ln else "" for ln in [config] + loop]
    return nl.join(body) + nl


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scripts())
def test_output_parses_and_inject_is_idempotent(src):
    r = inject_source(src, Options(project="p"), "gen.py")
    assert r.changed
    ast.parse(r.new_source)
    assert "wandb.finish()" in r.new_source and r.new_source.count("wandb.init(") == 1
    again = inject_source(r.new_source, Options(project="p"), "gen.py")
    assert again.new_source == r.new_source and not again.changed
    # every original line is still there, only possibly re-indented inside the try block
    new_lines = {ln.strip() for ln in r.new_source.splitlines()}
    assert all(ln.strip() in new_lines for ln in src.splitlines())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(scripts())
def test_revert_after_inject_is_identity(tmp_path, src):
    path = tmp_path / "train.py"
    data = src.encode()
    path.write_bytes(data)
    for old in tmp_path.glob("train.py.expkit-bak*"):
        old.unlink()
    inject_file(path)
    assert path.read_bytes() != data
    revert(path)
    assert path.read_bytes() == data
    assert not list(tmp_path.glob("train.py.expkit-bak*"))
