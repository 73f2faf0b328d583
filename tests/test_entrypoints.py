"""`expkit entrypoints` against example repositories in tests/fixtures/entrypoints/, one per config style and
framework. The files are only parsed: none of their imports (jax, keras, hydra ...) needs to be installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from expkit.entrypoints.discover import find_entrypoints

FIX = Path(__file__).parent / "fixtures" / "entrypoints"


def top(repo: str) -> dict:
    return find_entrypoints(FIX / repo)["candidates"][0]


def flags(cand: dict) -> dict:
    return {f["name"]: f for f in cand["config"]["flags"]}


@pytest.mark.parametrize("repo, style, framework, tracking", [
    ("argparse_pytorch", "argparse", "pytorch", ["wandb"]),
    ("click_accelerate", "click", "accelerate", ["mlflow"]),
    ("typer_jax", "typer", "jax", []),
    ("tyro_tensorboard", "tyro", "pytorch", ["tensorboard"]),
    ("hydra_lightning", "hydra", "lightning", ["wandb"]),
    ("lightning_cli", "lightning_cli", "lightning", []),
    ("hf_trainer", "hf_argparser", "hf_trainer", ["tensorboard"]),
    ("keras_constants", "constants", "keras", []),
    ("mp_spawn", "constants", "pytorch", []),
])
def test_config_style_framework_and_tracking(repo, style, framework, tracking):
    cand = top(repo)
    assert cand["config"]["style"] == style
    assert cand["framework"] == framework
    assert cand["tracking"] == tracking


def test_argparse_flags_defaults_and_required_become_the_command():
    info = find_entrypoints(FIX / "argparse_pytorch")
    py = next(c for c in info["candidates"] if c["kind"] == "python")
    f = flags(py)
    assert f["--lr"]["default"] == 3e-4 and f["--lr"]["type"] == "float" and f["--lr"]["help"] == "learning rate"
    assert f["--amp"]["default"] is False
    assert f["--data"]["required"] is True
    assert "torchrun" in py["distributed"]  # reads LOCAL_RANK
    assert py["command"] == "torchrun --nproc_per_node=<N> train.py --data <DATA>"
    # the author's own launcher script, which carries real arguments, ranks first and inherits the analysis
    assert info["candidates"][0]["command"] == "bash scripts/train.sh"
    assert info["candidates"][0]["runs"] == "train.py" and info["candidates"][0]["config"]["style"] == "argparse"
    assert info["suggested"] == "bash scripts/train.sh"
    assert "utils.py" not in info["inspected_files"]  # not an entry point: never parsed


def test_click_options_and_argument():
    cand = top("click_accelerate")
    f = flags(cand)
    assert f["--batch-size"]["default"] == 32 and f["--fp16"]["default"] is False
    assert f["data_dir"]["required"] is True
    assert cand["command"] == "accelerate launch main.py <DATA_DIR>"


def test_typer_and_tyro_flags_are_kebab_case():
    assert {"--steps": 100, "--learning-rate": 0.01, "--seed": 0} == \
        {k: v["default"] for k, v in flags(top("typer_jax")).items()}
    f = flags(top("tyro_tensorboard"))
    assert f["--num-epochs"]["default"] == 5 and f["--data-path"]["required"] is True
    assert top("tyro_tensorboard")["command"] == "python train.py --data-path <DATA_PATH>"


def test_hydra_reads_the_primary_config_for_overrides():
    cand = top("hydra_lightning")
    assert cand["config"]["hydra"] == {"config_path": "conf", "config_name": "config"}
    f = flags(cand)
    assert f["lr"]["default"] == 0.001 and f["lr"]["kind"] == "override"
    assert "defaults" not in f


def test_lightning_cli_suggests_fit():
    assert top("lightning_cli")["command"] == "python main.py fit"


def test_hf_dataclass_fields_and_training_arguments():
    cand = top("hf_trainer")
    f = flags(cand)
    assert f["--model_name_or_path"]["default"] == "distilbert-base-uncased"
    assert f["--train_file"]["required"] is True and f["--output_dir"]["required"] is True
    assert cand["command"] == "python run_training.py --train_file <TRAIN_FILE> --output_dir <OUTPUT_DIR>"


def test_constants_are_the_config_when_nothing_else_is():
    f = flags(top("keras_constants"))
    assert set(f) == {"EPOCHS", "BATCH_SIZE", "LEARNING_RATE"}


def test_mp_spawn_is_a_distributed_hint_and_needs_no_launcher():
    cand = top("mp_spawn")
    assert cand["distributed"] == ["mp.spawn", "torch.distributed"]
    assert cand["command"] == "python train.py"


def test_tasks_just_invoke_project_scripts_and_src_layout_module():
    info = find_entrypoints(FIX / "tasks_src")
    by_cmd = {c["command"]: c for c in info["candidates"]}
    assert by_cmd["just train"]["runs"] == "src/tinytrain/train.py"
    assert by_cmd["invoke train-small"]["runs"] == "src/tinytrain/train.py"
    assert by_cmd["tinytrain-train"]["kind"] == "project_script"
    assert "python -m tinytrain.train" in by_cmd
    assert "just fmt" not in by_cmd and "invoke clean" not in by_cmd  # not training
    assert all(c["rank"] == i for i, c in enumerate(info["candidates"], 1))


def test_syntax_error_is_reported_not_raised():
    cand = top("broken_syntax")
    assert "train.py:1: syntax error" in cand["error"]


def test_cli_json_text_and_empty_repo(expkit):
    r = expkit("entrypoints", FIX / "hydra_lightning", "--json")
    assert r.returncode == 0, r
    assert r.json()["suggested"] == "python train.py"
    r = expkit("entrypoints", FIX / "argparse_pytorch")
    assert r.returncode == 0 and r.stdout.startswith("suggested: bash scripts/train.sh")
    assert "--data = None (required)" in r.stdout
    r = expkit("entrypoints", FIX / "empty_repo", "--json")
    assert r.returncode == 0 and r.json()["candidates"] == [] and "no training script" in r.json()["note"]


def test_missing_path_is_an_error_with_hint(expkit, tmp_path):
    r = expkit("entrypoints", tmp_path / "nope")
    assert r.returncode == 2
    assert "error: no such directory" in r.stderr and "hint:" in r.stderr and "Traceback" not in r.stderr


def test_skips_virtualenvs_and_run_outputs(tmp_path):
    (tmp_path / "train.py").write_text("print('hi')\n")
    for junk in (".venv/lib/x", "runs/train_1", "wandb/run-1", "node_modules/x"):
        (tmp_path / junk).mkdir(parents=True)
        (tmp_path / junk / "train.py").write_text("print('junk')\n")
    assert find_entrypoints(tmp_path)["inspected_files"] == ["train.py"]


def test_suggested_command_quotes_paths_but_not_placeholders(tmp_path):
    (tmp_path / "exp 1").mkdir()
    (tmp_path / "exp 1" / "train.py").write_text(
        "import argparse\np = argparse.ArgumentParser()\np.add_argument('--data', required=True)\n"
        "import os\nrank = os.environ['LOCAL_RANK']\nif __name__ == '__main__':\n    p.parse_args()\n")
    assert find_entrypoints(tmp_path)["suggested"] == "torchrun --nproc_per_node=<N> 'exp 1/train.py' --data <DATA>"


def test_a_configurator_script_lists_its_globals_as_flags(tmp_path):
    """nanoGPT's train.py sets globals, then `exec(open('configurator.py').read())` lets `--dropout=0.1` override
    them. `config.flags` was empty, so a sweep over `--dropout` could not be checked against the script."""
    (tmp_path / "train.py").write_text(
        "import os\nimport torch\nout_dir = 'out'\ndropout = 0.0\nlearning_rate = 6e-4\ncompile = True\n"
        "config_keys = [k for k, v in globals().items() if not k.startswith('_')]\n"
        "exec(open('configurator.py').read())\nlate = 1\nprint(torch.zeros(1))\n")
    (tmp_path / "configurator.py").write_text("import sys\nfor arg in sys.argv[1:]:\n    pass\n")
    cand = next(c for c in find_entrypoints(tmp_path)["candidates"] if c["path"] == "train.py")
    assert cand["config"]["style"] == "configurator"
    got = flags(cand)
    assert got["--dropout"]["default"] == 0.0 and got["--learning_rate"]["default"] == 6e-4
    assert "--out_dir" in got and "--compile" in got and "--late" not in got and "--config_keys" not in got
