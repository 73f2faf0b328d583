"""Before/after checks for each codemod on the example scripts, and the guarantees: idempotent, reversible,
parses, byte-preserving outside inserted lines, refuses what it cannot do safely."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from expkit.errors import ExpkitError
from expkit.inject import CannotInject, Options, inject_file, inject_source, revert
from expkit.inject.edits import MARK

SCRIPTS = Path(__file__).parent / "inject_scripts"
ALL = sorted(p.name for p in SCRIPTS.glob("*.py"))


def inject(name, **opts):
    return inject_source((SCRIPTS / name).read_text(), Options(**opts), name)


def added(result):
    import difflib

    return [ln[1:].strip() for ln in difflib.unified_diff(result.source.splitlines(), result.new_source.splitlines(),
                                                           lineterm="", n=0)
            if ln.startswith("+") and not ln.startswith("+++")]


def removed(result):
    import difflib

    return [ln[1:] for ln in difflib.unified_diff(result.source.splitlines(), result.new_source.splitlines(),
                                                  lineterm="", n=0)
            if ln.startswith("-") and not ln.startswith("---")]


@pytest.mark.parametrize("name", [n for n in ALL if n != "uses_wandb.py"])
def test_every_script_changes_parses_and_is_idempotent(name):
    r = inject(name, sync_tensorboard=True)
    assert r.changed and r.edits
    ast.parse(r.new_source)
    again = inject_source(r.new_source, Options(sync_tensorboard=True), name)
    assert not again.changed and again.new_source == r.new_source
    assert again.framework == "wandb"


def test_mnist_loop_logs_loss_eval_and_finishes_in_finally():
    r = inject("mnist_argparse.py", project="mnist")
    new = added(r)
    assert f"import wandb  {MARK}" in new
    assert 'wandb.log({"train/loss": loss.item()})' in new
    assert 'wandb.log({"eval/test_loss": test_loss, "eval/correct": correct, "eval/accuracy": accuracy})' in new
    assert f'wandb.init(project="mnist", config=vars(args))  {MARK}' in new
    tree = ast.parse(r.new_source)
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    tries = [n for n in main.body if isinstance(n, ast.Try)]
    assert len(tries) == 1 and isinstance(tries[0].body[0], ast.For)  # the epoch loop is inside try
    assert ast.unparse(tries[0].finalbody[0]) == "wandb.finish()"
    # init once, in main, not in train() which runs once per epoch
    train = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "train")
    assert "wandb.init" not in ast.unparse(train)
    # only whole lines were added; removed lines come back re-indented inside the try, never altered
    assert {ln.strip() for ln in removed(r)} <= {ln.strip() for ln in r.new_source.splitlines()}


def test_module_level_constants_become_config():
    r = inject("module_level.py")
    assert 'wandb.init(config={"lr": lr, "steps": steps, "hidden": hidden})  # expkit: wandb' in added(r)
    assert r.new_source.rstrip().endswith("wandb.finish()  # expkit: wandb")


def test_ddp_inits_only_in_worker_on_rank_zero():
    r = inject("ddp_rank.py")
    tree = ast.parse(r.new_source)
    worker = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "worker")
    src = ast.unparse(worker)
    assert "    if rank == 0:\n        wandb.init(config=vars(args))\n    try:" in src
    guard = ast.unparse(tree.body[-1])  # the parent that calls mp.spawn stays untouched
    assert "wandb" not in guard
    assert any("worker function `worker`" in n for n in r.notes)


def test_hydra_click_typer_configs():
    assert "wandb.init(config=OmegaConf.to_container(cfg, resolve=True))  # expkit: wandb" in added(
        inject("hydra_main.py"))
    assert "from omegaconf import OmegaConf  # expkit: wandb" in added(inject("hydra_main.py"))
    assert 'wandb.init(config={"lr": lr, "steps": steps})  # expkit: wandb' in added(inject("click_cli.py"))
    assert 'wandb.init(config={"lr": lr, "steps": steps, "seed": seed})  # expkit: wandb' in added(
        inject("typer_cli.py"))


def test_hf_trainer_report_to_only():
    r = inject("hf_trainer.py", project="p")
    assert r.framework == "hf-trainer"
    assert added(r) == ['report_to=["wandb"],']
    assert any("WANDB_PROJECT" in n for n in r.notes)


@pytest.mark.parametrize("before, after", [
    ('report_to="tensorboard"', 'report_to=["tensorboard", "wandb"]'),
    ('report_to=["tensorboard"]', 'report_to=["tensorboard", "wandb"]'),
    ('report_to="none"', 'report_to=["wandb"]'),
    ("report_to=targets", 'report_to=[targets, "wandb"]'),
])
def test_hf_report_to_keeps_existing_values(before, after):
    src = f"from transformers import TrainingArguments\nargs = TrainingArguments(output_dir='o', {before})\n"
    r = inject_source(src, Options(), "t.py")
    assert after in r.new_source


def test_hf_arguments_from_kwargs_are_extended_after_construction():
    src = "from transformers import TrainingArguments\nargs = TrainingArguments(**cfg)\n"
    r = inject_source(src, Options(), "t.py")
    assert added(r) == [f'if "wandb" not in args.report_to:  {MARK}', 'args.report_to = [*args.report_to, "wandb"]']


def test_hf_report_to_already_wandb_is_unchanged():
    src = "from transformers import TrainingArguments\nargs = TrainingArguments(output_dir='o', report_to='all')\n"
    assert not inject_source(src, Options(), "t.py").changed


def test_hf_argument_parser():
    r = inject("hf_argparser.py")
    assert added(r) == [f'if "wandb" not in training_args.report_to:  {MARK}',
                        'training_args.report_to = [*training_args.report_to, "wandb"]']


def test_lightning_keeps_existing_logger():
    r = inject("lightning_trainer.py", project="p")
    assert r.framework == "lightning"
    assert 'logger=[CSVLogger("logs"), WandbLogger(project="p")],' in added(r)
    assert f"from lightning.pytorch.loggers import WandbLogger  {MARK}" in added(r)


@pytest.mark.parametrize("call, expected", [
    ("pl.Trainer(max_epochs=1)", "pl.Trainer(max_epochs=1, logger=WandbLogger())"),
    ("pl.Trainer(logger=[a, b])", "pl.Trainer(logger=[a, b, WandbLogger()])"),
    ("pl.Trainer(logger=False)", "pl.Trainer(logger=WandbLogger())"),
])
def test_lightning_logger_forms(call, expected):
    r = inject_source(f"import pytorch_lightning as pl\ntrainer = {call}\n", Options(), "t.py")
    assert expected in r.new_source
    assert "from pytorch_lightning.loggers import WandbLogger" in r.new_source


def test_lightning_trainer_from_kwargs_gets_logger_after_construction():
    r = inject_source("import lightning as L\ntrainer = L.Trainer(**cfg)\n", Options(), "t.py")
    assert f"trainer.loggers = [*trainer.loggers, WandbLogger()]  {MARK}" in added(r)


def test_lightning_cli_trainer_defaults():
    src = "from lightning.pytorch.cli import LightningCLI\nLightningCLI(Model, Data)\n"
    r = inject_source(src, Options(project="p"), "t.py")
    assert ('trainer_defaults={"logger": {"class_path": "lightning.pytorch.loggers.WandbLogger", '
            '"init_args": {"project": "p"}}}') in r.new_source


def test_keras_adds_metrics_logger_not_wandbcallback():
    r = inject("keras_fit.py", project="p")
    assert r.framework == "keras"
    assert "callbacks=[keras.callbacks.TerminateOnNaN(), WandbMetricsLogger()])" in added(r)
    assert "WandbCallback" not in r.new_source
    assert 'wandb.init(project="p", config=vars(args))  # expkit: wandb' in added(r)


def test_accelerate():
    r = inject("accelerate_loop.py")
    new = added(r)
    assert 'accelerator = Accelerator(cpu=True, log_with="wandb")' in new
    assert ('accelerator.init_trackers(os.environ.get("WANDB_PROJECT", "accelerate_loop"), config=vars(args))  '
            f'{MARK}') in new
    assert f'accelerator.log({{"train/loss": loss.item()}})  {MARK}' in new
    assert f"accelerator.end_training()  {MARK}" in new
    assert "wandb.init" not in r.new_source


def test_tensorboard_needs_a_choice_then_syncs():
    with pytest.raises(CannotInject) as exc:
        inject("tensorboard_writer.py")
    assert "--sync-tensorboard" in exc.value.hint
    r = inject("tensorboard_writer.py", sync_tensorboard=True)
    assert "wandb.init(config=vars(args), sync_tensorboard=True)  # expkit: wandb" in added(r)
    assert not any("wandb.log" in ln for ln in added(r))
    plain = inject("tensorboard_writer.py", sync_tensorboard=False)
    assert any("wandb.log" in ln for ln in added(plain))


def test_script_already_using_wandb_is_reported_not_changed():
    r = inject("uses_wandb.py")
    assert r.framework == "wandb" and not r.changed
    assert [e["line"] for e in r.existing] == [2, 4, 12]


def test_jax_style_loss_variable():
    src = ("import jax\nimport jax.numpy as jnp\nconfig = {'lr': 0.1}\nparams = jnp.zeros(3)\n"
           "for step in range(10):\n    params, loss = update(params, config['lr'])\n")
    r = inject_source(src, Options(), "j.py")
    assert r.framework == "jax"
    assert 'wandb.log({"train/loss": float(loss)})' in r.new_source
    assert "wandb.init(config=config)  # expkit: wandb" in r.new_source


def test_amp_scaler_and_accumulated_loss():
    src = ("import torch\ndef train(model, loader, scaler):\n    for x in loader:\n        loss = model(x)\n"
           "        scaler.scale(loss).backward()\n        (loss / 4).backward()\n")
    r = inject_source(src, Options(), "a.py")
    assert r.new_source.count('wandb.log({"train/loss": loss.item()})') == 2


def test_rank_from_environment_when_script_has_no_rank_variable():
    src = ("import torch\nimport torch.distributed as dist\nargs = parser.parse_args()\n"
           "dist.init_process_group('nccl')\nfor b in data:\n    loss = m(b)\n    loss.backward()\n")
    r = inject_source(src, Options(), "d.py")
    assert 'if int(os.environ.get("RANK", "0")) == 0:  # expkit: wandb' in r.new_source
    assert "import os  # expkit: wandb" in r.new_source


def test_master_process_flag_is_used():
    src = ("import torch.distributed as dist\nmaster_process = dist.get_rank() == 0\nconfig = {'a': 1}\n"
           "for b in data:\n    loss = m(b)\n    loss.backward()\n")
    assert "if master_process:  # expkit: wandb" in inject_source(src, Options(), "d.py").new_source


def test_trainer_class_method_starts_the_run_in_main():
    src = ("import argparse\nimport torch\n\nclass Trainer:\n    def __init__(self, cfg):\n        self.cfg = cfg\n\n"
           "    def evaluate(self):\n        self.model.train()\n\n"
           "    def train(self):\n        for b in self.data:\n            loss = self.model(b)\n"
           "            loss.backward()\n\n"
           "def main():\n    args = argparse.ArgumentParser().parse_args()\n    trainer = Trainer(args)\n"
           "    trainer.train()\n")
    r = inject_source(src, Options(), "c.py")
    tree = ast.parse(r.new_source)
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    assert "wandb.init(config=vars(args))\n    try:\n        trainer.train()" in ast.unparse(main)
    assert r.new_source.count("wandb.init(") == 1


def test_nanogpt_style_globals_config_and_master_process():
    src = ("import os\nimport torch.distributed\nlr = 6e-4\nconfig_keys = [k for k in globals()]\n"
           "config = {k: globals()[k] for k in config_keys}\n"
           "ddp = int(os.environ.get('RANK', -1)) != -1\nmaster_process = not ddp or int(os.environ['RANK']) == 0\n"
           "while True:\n    for micro in range(4):\n        logits, loss = model(X)\n"
           "        scaler.scale(loss).backward()\n")
    out = inject_source(src, Options(), "n.py").new_source
    assert "if master_process:  # expkit: wandb\n    wandb.init(config=config)\ntry:  # expkit: wandb\n    while" in out


def test_no_loss_in_sight_refuses_with_snippet_and_line():
    src = "import torch\nfor epoch in range(3):\n    model.step()\n"
    with pytest.raises(CannotInject) as exc:
        inject_source(src, Options(), "n.py")
    assert exc.value.line == 2 and "wandb.log" in exc.value.snippet and exc.value.exit_code == 1


def test_loop_in_sibling_module_is_followed(tmp_path):
    engine = "import torch\n\n\ndef train_one_epoch(model, loader, opt):\n    for x in loader:\n" \
             "        loss = model(x)\n        loss.backward()\n        opt.step()\n"
    main = ("import argparse\nfrom engine import train_one_epoch\n\nargs = argparse.ArgumentParser().parse_args()\n"
            "for epoch in range(2):\n    train_one_epoch(m, l, o)\n")
    (tmp_path / "engine.py").write_text(engine)
    script = tmp_path / "main.py"
    script.write_text(main)
    r = inject_file(script, Options(project="p"))
    assert 'wandb.init(project="p", config=vars(args))  # expkit: wandb' in script.read_text()
    assert "try:  # expkit: wandb\n    for epoch" in script.read_text()
    new_engine = (tmp_path / "engine.py").read_text()
    assert 'wandb.log({"train/loss": loss.item()})' in new_engine and "wandb.init" not in new_engine
    assert [Path(x.backup).name for x in r.also] == ["engine.py.expkit-bak"]
    assert any("engine.py" in n for n in r.notes)
    assert not inject_file(script).changed  # idempotent: main.py now uses wandb
    revert(script)
    revert(tmp_path / "engine.py")
    assert script.read_text() == main and (tmp_path / "engine.py").read_text() == engine


def test_loop_in_unrelated_module_is_not_followed(tmp_path):
    (tmp_path / "helpers.py").write_text("def other(m):\n    m().backward()\n")
    script = tmp_path / "main.py"
    script.write_text("from helpers import other\nfor e in range(2):\n    print(e)\n")
    with pytest.raises(CannotInject):
        inject_file(script)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["helpers.py", "main.py"]


def test_crlf_tabs_encoding_comments_are_kept(tmp_path):
    src = ("# -*- coding: latin-1 -*-\r\n# caf\xe9 model\r\nimport torch\r\n\r\nconfig = {'lr': 1}\r\n"
           "for x in data:\t# tab comment\r\n\tloss = m(x)  # the loss\r\n\tloss.backward()\r\n")
    path = tmp_path / "t.py"
    path.write_bytes(src.encode("latin-1"))
    r = inject_file(path)
    data = path.read_bytes()
    assert b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    text = data.decode("latin-1")
    assert "# caf\xe9 model" in text and "\t\tloss = m(x)  # the loss\r\n" in text
    assert "\t\tif wandb.run is not None:  # expkit: wandb\r\n\t\t\twandb.log(" in text
    assert r.backup and Path(r.backup).read_bytes() == src.encode("latin-1")
    revert(path)
    assert path.read_bytes() == src.encode("latin-1")


def test_utf8_bom_is_kept(tmp_path):
    path = tmp_path / "t.py"
    path.write_bytes(b"\xef\xbb\xbfconfig = {'a': 1}\nfor x in d:\n    loss = f(x)\n    loss.backward()\n")
    inject_file(path)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfimport wandb") and data.count(b"\xef\xbb\xbf") == 1


def test_backups_are_numbered_never_overwritten_and_revert_is_exact(tmp_path):
    path = tmp_path / "train.py"
    original = (SCRIPTS / "module_level.py").read_bytes()
    path.write_bytes(original)
    (tmp_path / "train.py.expkit-bak").write_bytes(b"older backup\n")
    r = inject_file(path)
    assert Path(r.backup).name == "train.py.expkit-bak.1"
    assert (tmp_path / "train.py.expkit-bak").read_bytes() == b"older backup\n"
    assert not inject_file(path).changed  # second inject: nothing, no new backup
    visible = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("."))
    assert visible == ["train.py", "train.py.expkit-bak", "train.py.expkit-bak.1"]
    revert(path)
    assert path.read_bytes() == original
    assert (tmp_path / "train.py.expkit-bak").read_bytes() == b"older backup\n"


def test_dry_run_writes_nothing(tmp_path):
    path = tmp_path / "train.py"
    path.write_bytes((SCRIPTS / "click_cli.py").read_bytes())
    r = inject_file(path, dry_run=True)
    assert r.changed and r.diff.startswith("--- a/") and r.backup is None
    assert path.read_bytes() == (SCRIPTS / "click_cli.py").read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["train.py"]


def test_unparseable_script_is_refused(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("def f(:\n    pass\n")
    with pytest.raises(ExpkitError) as exc:
        inject_file(path)
    assert exc.value.exit_code == 2 and "does not parse" in exc.value.message
    assert [p.name for p in tmp_path.iterdir()] == ["bad.py"]


def test_revert_without_backup_is_a_clear_error(tmp_path):
    path = tmp_path / "train.py"
    path.write_text("x = 1\n")
    with pytest.raises(ExpkitError) as exc:
        revert(path)
    assert "no backup" in exc.value.message


def test_config_loaded_inside_with_block_and_summary_print_not_logged_twice():
    src = ("import json\n\ndef main():\n    with open('c.json') as fh:\n        cfg = json.load(fh)\n"
           "    sink = open('m.jsonl', 'a')\n"
           "    for epoch in range(cfg['epochs']):\n        train_loss, _ = step()\n"
           "        val_acc = evaluate()\n        print(f'val_acc={val_acc}')\n"
           "        sink.write(f'{val_acc}')\n    print(f'done: val_acc={val_acc}')\n")
    r = inject_source(src, Options(), "q.py")
    assert "    wandb.init(config=cfg)  # expkit: wandb\n    try:  # expkit: wandb\n        for epoch" in r.new_source
    assert r.new_source.count('wandb.log({"train/loss": float(train_loss)})') == 1
    assert r.new_source.count('wandb.log({"eval/val_acc": val_acc})') == 1  # not after sink.write, not at "done"


def test_fabric_global_zero_and_torchrun_env_rank():
    fabric = ("import lightning as L\nfabric = L.Fabric(devices=2)\nconfig = {'lr': 1}\n"
              "for b in data:\n    loss = m(b)\n    fabric.backward(loss)\n")
    out = inject_source(fabric, Options(), "f.py").new_source
    assert "if fabric.is_global_zero:  # expkit: wandb\n    wandb.init(config=config)" in out
    assert 'wandb.log({"train/loss": loss.item()})' in out
    torchrun = ("import os\nlocal = int(os.environ['LOCAL_RANK'])\nconfig = {'lr': 1}\n"
                "for b in data:\n    loss = m(b)\n    loss.backward()\n")
    assert 'if int(os.environ.get("RANK", "0")) == 0:  # expkit: wandb' in inject_source(
        torchrun, Options(), "t.py").new_source


def test_revert_refuses_when_wandb_code_is_gone_unless_forced(tmp_path):
    path = tmp_path / "train.py"
    original = (SCRIPTS / "module_level.py").read_bytes()
    path.write_bytes(original)
    inject_file(path)
    path.write_text("# rewritten by hand\n")
    with pytest.raises(ExpkitError) as exc:
        revert(path)
    assert "--force" in exc.value.hint and path.read_text() == "# rewritten by hand\n"
    revert(path, force=True)
    assert path.read_bytes() == original
