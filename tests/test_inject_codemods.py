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


def test_mnist_loop_logs_loss_eval_and_finishes_where_training_ends():
    r = inject("mnist_argparse.py", project="mnist")
    new = added(r)
    assert f"import wandb  {MARK}" in new
    assert 'wandb.log({"train/loss": loss.item()})' in new
    assert 'wandb.log({"eval/test_loss": test_loss, "eval/correct": correct, "eval/accuracy": accuracy})' in new
    assert f'wandb.init(project="mnist", config=vars(args))  {MARK}' in new
    tree = ast.parse(r.new_source)
    main = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Try)]  # no user code wrapped or re-indented
    assert ast.unparse(main.body[-1]) == "wandb.finish()"  # where main's training ends
    init = next(i for i, n in enumerate(main.body) if "wandb.init" in ast.unparse(n))
    assert isinstance(main.body[init + 1], ast.For)  # the run starts right before the epoch loop
    # init once, in main, not in train() which runs once per epoch
    train = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "train")
    assert "wandb.init" not in ast.unparse(train)
    assert removed(r) == []  # only whole lines were added


def test_module_level_constants_become_config():
    r = inject("module_level.py")
    assert 'wandb.init(config={"lr": lr, "steps": steps, "hidden": hidden})  # expkit: wandb' in added(r)
    assert r.new_source.rstrip().endswith("wandb.finish()  # expkit: wandb")


def test_ddp_inits_only_in_worker_on_rank_zero():
    r = inject("ddp_rank.py")
    tree = ast.parse(r.new_source)
    worker = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "worker")
    src = ast.unparse(worker)
    assert "    if rank == 0:\n        wandb.init(config=vars(args))\n    for " in src
    assert src.rstrip().endswith("wandb.finish()")  # unguarded: a no-op where no run was started
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
    # two backward calls in one iteration: one W&B step, one log call after the last of them
    assert r.new_source.count('wandb.log({"train/loss": loss.item()})') == 1


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
    assert "wandb.init(config=vars(args))\n    trainer.train()\n    wandb.finish()" in ast.unparse(main)
    assert r.new_source.count("wandb.init(") == 1


def test_nanogpt_style_globals_config_and_master_process():
    src = ("import os\nimport torch.distributed\nlr = 6e-4\nconfig_keys = [k for k in globals()]\n"
           "config = {k: globals()[k] for k in config_keys}\n"
           "ddp = int(os.environ.get('RANK', -1)) != -1\nmaster_process = not ddp or int(os.environ['RANK']) == 0\n"
           "while True:\n    for micro in range(4):\n        logits, loss = model(X)\n"
           "        scaler.scale(loss).backward()\n")
    out = inject_source(src, Options(), "n.py").new_source
    assert "if master_process:  # expkit: wandb\n    wandb.init(config=config)\nwhile" in out


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
    assert "# expkit: wandb\nfor epoch" in script.read_text()
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
    assert "# caf\xe9 model" in text and "\tloss = m(x)  # the loss\r\n" in text  # not re-indented
    assert "\tif wandb.run is not None:  # expkit: wandb\r\n\t\twandb.log(" in text
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
    assert "    wandb.init(config=cfg)  # expkit: wandb\n    for epoch" in r.new_source
    # the epoch's loss waits for its val_acc: one W&B step per epoch
    assert r.new_source.count('wandb.log({"train/loss": float(train_loss)}, commit=False)') == 1
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


# One focused case per defect class of the real-world corpus (tests/realworld/inject/ has the real scripts).

def test_item_only_on_proven_scalar_tensors():
    unnamed = ("import torch\nimport torch.nn as nn\nloss_fn = nn.MSELoss()\nconfig = {'lr': 1}\n"
               "for x, y in data:\n    loss_fn(model(x), y).backward()\n")
    r = inject_source(unnamed, Options(), "u.py")
    assert "loss_fn.item()" not in r.new_source and "wandb.log(" not in r.new_source
    assert any("line 6" in n and "has no name" in n for n in r.notes)
    per_sample = ("import torch\nconfig = {'lr': 1}\ncrit = torch.nn.CrossEntropyLoss(reduction='none')\n"
                  "for x, y in data:\n    loss = crit(model(x), y)\n    loss.mean().backward()\n")
    assert 'wandb.log({"train/loss": loss.mean().item()})' in inject_source(per_sample, Options(), "p.py").new_source
    metric = ("import torch\nimport torchmetrics\nconfig = {'lr': 1}\nval_acc = torchmetrics.Accuracy(task='binary')\n"
              "for epoch in range(2):\n    for x, y in data:\n        loss = m(x)\n        loss.backward()\n"
              "    print(f'val_acc={val_acc.compute()}')\n    val_acc.reset()\n")
    out = inject_source(metric, Options(), "m.py").new_source
    assert out.index('"eval/val_acc": val_acc.compute()') < out.index("    val_acc.reset()")


def test_report_to_goes_on_the_training_arguments_only():
    src = ("from transformers import HfArgumentParser\nfrom trl import SFTConfig, SFTTrainer\n"
           "from dataclasses import dataclass\n\n@dataclass\nclass DataTrainingArguments:\n    path: str = 'x'\n\n"
           "parser = HfArgumentParser((ModelArguments, DataTrainingArguments, SFTConfig))\n"
           "model_args, data_args, training_args = parser.parse_args_into_dataclasses()\n"
           "SFTTrainer(model=None, args=training_args).train()\n")
    new = added(inject_source(src, Options(), "s.py"))
    assert 'training_args.report_to = [*training_args.report_to, "wandb"]' in new
    assert not any("data_args" in ln for ln in new)
    sub = ("from transformers import HfArgumentParser\nfrom trl import SFTConfig\n\n"
           "class ScriptArguments(SFTConfig):\n    pass\n\nparser = HfArgumentParser(ScriptArguments)\n"
           "script_args = parser.parse_args_into_dataclasses()[0]\n")
    assert 'script_args.report_to = [*script_args.report_to, "wandb"]' in added(inject_source(sub, Options(), "p.py"))
    seq2seq = ("from transformers import Seq2SeqTrainingArguments\n"
               "args = Seq2SeqTrainingArguments(output_dir='o')\n")
    assert inject_source(seq2seq, Options(), "q.py").framework == "hf-trainer"


def test_trl_parser_configs_take_the_report_to_route():
    src = ("import argparse\n\ndef make_parser():\n    from trl import ModelConfig, ScriptArguments, GRPOConfig, TrlParser\n"
           "    types = (ScriptArguments, GRPOConfig, ModelConfig)\n    return TrlParser(types)\n\n"
           "if __name__ == '__main__':\n    parser = make_parser()\n"
           "    script_args, training_args, model_args = parser.parse_args_and_config()\n    main(training_args)\n")
    r = inject_source(src, Options(), "g.py")
    assert r.framework == "hf-trainer"
    assert 'training_args.report_to = [*training_args.report_to, "wandb"]' in added(r)


def test_tensorboard_api_on_the_lightning_logger_is_refused_with_its_line():
    src = ("import lightning as L\n\nclass M(L.LightningModule):\n    def on_train_epoch_end(self):\n"
           "        for logger in self.loggers:\n            logger.experiment.add_image('x', 1, 0)\n\n"
           "L.Trainer(max_epochs=1).fit(M())\n")
    with pytest.raises(CannotInject) as exc:
        inject_source(src, Options(), "gan.py")
    assert exc.value.line == 6 and "add_image" in exc.value.message


def test_gan_losses_of_one_iteration_are_one_step():
    src = ("import torch\nconfig = {'lr': 1}\nfor x in data:\n    err_d = d(x)\n    err_d.backward()\n"
           "    err_g = g(x)\n    err_g.backward()\n")
    out = inject_source(src, Options(), "gan.py").new_source
    assert out.count("wandb.log(") == 1
    assert 'wandb.log({"train/err_d": err_d.item(), "train/err_g": err_g.item()})' in out


def test_config_from_spawn_args_self_config_and_accumulation():
    spawn = ("import torch.multiprocessing as mp\n\ndef main(rank, world_size: int, total_epochs: int, batch_size: int):\n"
             "    for e in range(total_epochs):\n        loss = step()\n        loss.backward()\n\n"
             "if __name__ == '__main__':\n    mp.spawn(main, args=(2, args.epochs, args.batch), nprocs=2)\n")
    out = inject_source(spawn, Options(), "s.py").new_source
    assert 'wandb.init(config={"world_size": world_size, "total_epochs": total_epochs, "batch_size": batch_size})' in out
    cls = ("from dataclasses import dataclass\nimport torch\n\n@dataclass\nclass TrainerConfig:\n    lr: float = 1.0\n\n"
           "class Trainer:\n    def __init__(self, trainer_config: TrainerConfig):\n        self.config = trainer_config\n\n"
           "    def train(self):\n        for b in data:\n            loss = m(b)\n            loss.backward()\n")
    assert "wandb.init(config=dataclasses.asdict(self.config))" in inject_source(cls, Options(), "t.py").new_source
    accum = ("import torch\nconfig = {'k': 4}\nk = 4\nfor b in data:\n    loss = m(b)\n    loss = loss / k\n"
             "    loss.backward()\n")
    assert '"train/loss": loss.item() * k' in inject_source(accum, Options(), "a.py").new_source


def test_accelerate_log_with_all_is_a_no_op_that_says_why():
    src = ("from accelerate import Accelerator\n\ndef f(config):\n    accelerator = Accelerator(log_with='all')\n"
           "    accelerator.init_trackers('p', config)\n    for b in data:\n        loss = m(b)\n"
           "        accelerator.backward(loss)\n        accelerator.log({'loss': loss.item()})\n")
    r = inject_source(src, Options(), "a.py")
    assert not r.changed
    assert any('log_with="all"' in n and "includes W&B" in n for n in r.notes)
    assert r.to_json()["existing_wandb"] == [{"line": 4, "code": 'log_with="all"'}]


def test_mp_spawn_worker_guards_on_its_process_index_and_reads_module_config():
    src = ("import torch\nimport torch.multiprocessing as mp\nbatch_size = 8\nnum_epochs = 2\n\n"
           "def main(current_gpu_index, num_gpu):\n    for b in data:\n        loss = m(b)\n        loss.backward()\n\n"
           "if __name__ == '__main__':\n    mp.spawn(main, args=(2,), nprocs=2)\n")
    out = inject_source(src, Options(), "w.py").new_source
    # mp.spawn sets no RANK variable: every worker would think it is rank 0
    assert ('    if current_gpu_index == 0:  # expkit: wandb\n'
            '        wandb.init(config={"batch_size": batch_size, "num_epochs": num_epochs})') in out


def test_a_trl_trainer_with_its_config_passed_in_takes_the_report_to_route():
    src = ("from trl import SFTTrainer\n\ndef main(training_args):\n"
           "    trainer = SFTTrainer(model='m', args=training_args, train_dataset=ds)\n    trainer.train()\n")
    r = inject_source(src, Options(), "t.py")
    assert r.framework == "hf-trainer"
    assert r.new_source.index('training_args.report_to = [*training_args.report_to, "wandb"]') < r.new_source.index(
        "    trainer = SFTTrainer(")
    bare = "from trl import SFTTrainer\n\ntrainer = SFTTrainer(model='m', train_dataset=ds)\ntrainer.train()\n"
    with pytest.raises(CannotInject) as exc:
        inject_source(bare, Options(), "b.py")
    assert exc.value.framework == "hf-trainer" and exc.value.line == 3 and "report_to" in exc.value.hint


def test_finish_never_lands_before_the_training_it_ends():
    src = ("import argparse\nimport torch\n\ndef train(args):\n    for b in data:\n        loss = m(b)\n"
           "        loss.backward()\n    return m\n\ndef main():\n    args = argparse.ArgumentParser().parse_args()\n"
           "    return train(args)\n")
    out = inject_source(src, Options(), "r.py")
    main = out.new_source[out.new_source.index("def main"):]
    assert "wandb.init(config=vars(args))" in main and "wandb.finish()" not in main
    assert any("exit hook" in n for n in out.notes)
    ends = ("import torch\n\ndef run(lr=0.1, steps=3):\n    for b in data:\n        loss = m(b)\n"
            "        loss.backward()\n    return m\n\nif __name__ == '__main__':\n    run()\n")
    body = inject_source(ends, Options(), "e.py").new_source
    assert body.index("wandb.finish()") < body.index("    return m")  # after training, before returning


def test_new_keyword_keeps_the_users_comment_and_closing_paren_where_they_were():
    src = ("from transformers import TrainingArguments\nargs = TrainingArguments(\n    output_dir='o',\n"
           "    remove_unused_columns=False,  # important\n)\n")
    r = inject_source(src, Options(), "h.py")
    assert removed(r) == []  # the commented line is untouched; report_to gets a line of its own
    assert "    remove_unused_columns=False,  # important\n    report_to=[\"wandb\"],\n)\n" in r.new_source
    vertical = "from accelerate import Accelerator\nacc = Accelerator(\n    cpu=True, mixed_precision='no'\n)\n"
    out = inject_source(vertical, Options(), "a.py").new_source
    assert "    cpu=True, mixed_precision='no', log_with=\"wandb\"\n)\n" in out


def test_eval_metrics_only_when_no_loss_is_in_sight_with_a_warning():
    src = ("import jax\n\ndef train_and_evaluate(config):\n    for epoch in range(config.num_epochs):\n"
           "        for _ in range(10):\n            state = train_step(state)\n"
           "        metrics = eval_f(state.params)\n        print('eval', metrics['loss'])\n")
    r = inject_source(src, Options(), "v.py")
    assert 'wandb.log({"eval/metrics": metrics})' in r.new_source
    assert any("only the metrics the script reports" in w and "line 5" in w for w in r.warnings)


def test_gan_discriminator_sum_is_logged_with_its_parts():
    src = ("import torch\nconfig = {'lr': 1}\nfor x in data:\n    err_real = d(x)\n    err_real.backward()\n"
           "    err_fake = d(g(x))\n    err_fake.backward()\n    err_d = err_real + err_fake\n"
           "    err_g = g(x)\n    err_g.backward()\n")
    out = inject_source(src, Options(), "gan.py").new_source
    assert out.count("wandb.log(") == 1 and '"train/err_d": err_d.item()' in out


def test_apex_scaled_loss_logs_the_unscaled_loss_and_parse_helper_is_argparse():
    src = ("import argparse\nfrom apex import amp\n\ndef parse():\n    p = argparse.ArgumentParser()\n"
           "    args = p.parse_args()\n    return args\n\ndef parse():\n    return parse()\n\nopt = parse()\n"
           "for x in data:\n    err = crit(m(x))\n    with amp.scale_loss(err, o) as err_scaled:\n"
           "        err_scaled.backward()\n    o.step()\n")
    out = inject_source(src, Options(), "a.py").new_source
    assert "err_scaled.item()" not in out
    assert '    with amp.scale_loss(err, o) as err_scaled:\n        err_scaled.backward()\n' \
           '    if wandb.run is not None:  # expkit: wandb\n        wandb.log({"train/err": err.item()})' in out


def test_callback_defined_in_main_block_never_starts_the_run_itself():
    src = ("import torch\nfrom mingpt.trainer import Trainer\n\nif __name__ == '__main__':\n"
           "    trainer = Trainer(cfg, model, data)\n\n    def batch_end_callback(trainer):\n"
           "        if trainer.iter_num % 10 == 0:\n            print(f'loss {trainer.loss.item():.5f}')\n\n"
           "    trainer.set_callback('on_batch_end', batch_end_callback)\n    trainer.run()\n")
    out = inject_source(src, Options(), "c.py").new_source
    callback = out[out.index("def batch_end_callback"):out.index("trainer.set_callback")]
    assert "wandb.init" not in callback and 'wandb.log({"train/loss": trainer.loss.item()})' in callback
    assert out.index("    wandb.init()") < out.index("    def batch_end_callback")
    assert out.rstrip().endswith("trainer.run()\n    wandb.finish()  # expkit: wandb")
