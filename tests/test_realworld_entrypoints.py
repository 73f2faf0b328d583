"""`expkit entrypoints` on 25 public repositories (tests/realworld/entrypoints/, see its README): the training
command each README gives is in the top 3, and no config-override file or docker entrypoint is offered as a
script. Plus one regression test per repository shape the corpus showed discovery got wrong."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from expkit.entrypoints.discover import find_entrypoints
from expkit.entrypoints.readme import readme_commands, shell_lines

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "realworld" / "entrypoints"
_spec = importlib.util.spec_from_file_location("realworld_entrypoints", ROOT / "benchmarks" / "realworld_entrypoints.py")
board = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(board)


def commands(path) -> list[str]:
    return [c["command"] for c in find_entrypoints(path)["candidates"]]


def without_readme(name: str, tmp_path: Path) -> Path:
    dest = tmp_path / name
    shutil.copytree(CORPUS / name, dest, ignore=shutil.ignore_patterns("README.md"))
    return dest


def test_corpus_is_complete_and_permissively_licensed():
    rows = [line.split("\t") for line in (CORPUS / "SOURCES.tsv").read_text().splitlines()[1:]]
    answers = json.loads((CORPUS / "answers.json").read_text())
    assert len(rows) >= 25 and {r[0] for r in rows} == set(answers)
    for name, repo, commit, licence in rows:
        assert (CORPUS / name).is_dir() and "/" in repo and len(commit) == 40, name
        assert licence in ("MIT", "Apache-2.0", "BSD-3-Clause"), name


@pytest.mark.timeout(120)
def test_readme_command_in_top_3_for_90_percent_and_no_override_or_docker_script():
    result = board.score()
    misses = [(name, want, got) for name, rank, want, got in result["rows"] if rank is None]
    assert result["ratio"] >= 0.9, misses
    assert result["forbidden"] == []


def test_normalize_compares_what_runs_not_how_it_is_launched():
    n = board.normalize
    assert n("torchrun --standalone --nproc_per_node=8 train.py config/train_gpt2.py --lr=1") == \
        ("train.py", ("config/train_gpt2.py",))
    assert n("poetry run python cleanrl/ppo.py --seed 1") == n("python -m cleanrl.ppo") == ("cleanrl/ppo.py", ())
    assert n("cd implementations/acgan/ && python3 acgan.py") == ("implementations/acgan/acgan.py", ())
    assert n("python src/train.py trainer=gpu") == n("python -m train") == ("train.py", ())
    assert n("./run.sh") == n("bash run.sh") == ("run.sh", ())
    assert n("invoke train.train --args x") == ("invoke train.train", ())


def test_nanogpt_config_overrides_go_to_train_py_never_run_alone(tmp_path):
    """config/*.py are values train.py execs through configurator.py: offered as its argument, never as scripts."""
    assert commands(CORPUS / "nanoGPT")[0] == "python train.py config/train_shakespeare_char.py"
    for project in (CORPUS / "nanoGPT", without_readme("nanoGPT", tmp_path)):
        out = find_entrypoints(project)
        top = out["candidates"][0]
        assert top["path"] in ("README.md", "train.py") and " train.py config/train_" in top["command"]
        assert not any(c["command"].startswith(("python config/", "python -m config")) for c in out["candidates"])
        assert "config/train_gpt2.py" in out["config_overrides"]


def test_cleanrl_docker_entrypoint_never_wins_and_package_scripts_are_found(tmp_path):
    out = find_entrypoints(CORPUS / "cleanrl")
    assert out["suggested"].startswith("poetry run python cleanrl/ppo.py")
    assert {"path": "entrypoint.sh", "why": "docker entrypoint: runs inside a container, not a training command"} \
        in out["excluded"]
    code_only = commands(without_readme("cleanrl", tmp_path))
    assert "bash entrypoint.sh" not in code_only
    assert "python cleanrl/ppo.py" in code_only  # a script inside the package folder, found by its main guard


def test_projects_folder_scripts_are_found_without_a_readme(tmp_path):
    got = commands(without_readme("minGPT", tmp_path))
    assert {"python projects/adder/adder.py", "python projects/chargpt/chargpt.py"} <= set(got[:3])


def test_invoke_namespaced_collections(tmp_path):
    out = find_entrypoints(without_readme("ct_scan_mlops", tmp_path))
    by_cmd = {c["command"]: c for c in out["candidates"]}
    assert out["suggested"] == "invoke train.train"
    assert by_cmd["invoke train.train"]["runs"] == "src/ct_scan_mlops/train.py"  # f-string filled from PROJECT_NAME
    assert by_cmd["invoke train.train"]["framework"] == "lightning"
    assert "invoke data.download" not in by_cmd and "invoke git.status" not in by_cmd  # not training


def test_uv_run_and_python_m_readme_commands():
    assert commands(CORPUS / "autoresearch")[0] == "uv run train.py"
    assert find_entrypoints(CORPUS / "open_clip")["candidates"][0]["runs"] == "src/open_clip_train/main.py"
    assert commands(CORPUS / "baselines")[0].startswith("python -m baselines.run")


def test_readme_shell_lines_join_continuations_and_drop_prompts_comments_and_python_blocks():
    text = ("```python\nimport x\n```\n```bash\n$ python train.py \\\n    --lr 1 \\\n    --seed 2\n# comment\n"
            "```\n```console\n> make train\n```\n")
    assert [line for line in shell_lines(text) if line] == ["python train.py --lr 1 --seed 2", "make train"]


def test_readme_cd_clone_and_missing_files(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "fit.py").write_text("print(1)\n")
    (tmp_path / "README.md").write_text(
        "```\ngit clone https://github.com/a/proj.git && cd proj\npython pkg/fit.py\n```\n"
        "```\ncd pkg\npython fit.py --x 1\npython missing.py\n```\n")
    _, found = readme_commands(tmp_path, {})
    assert [(f["command"], f["runs"]) for f in found] == [("python pkg/fit.py", "pkg/fit.py"),
                                                          ("cd pkg && python fit.py --x 1", "pkg/fit.py")]


def test_non_training_readme_commands_rank_below_training_ones():
    got = commands(CORPUS / "nanoGPT")
    assert got.index("python train.py config/train_shakespeare_char.py") < got.index(
        "python data/shakespeare_char/prepare.py")
    cands = find_entrypoints(CORPUS / "open_clip")["candidates"]
    make = next(c for c in cands if c["command"] == "make install-training")
    assert "its name says it is not training" in make["why"] and make["rank"] > cands[0]["rank"]


def test_cli_text_says_which_files_are_not_scripts(expkit):
    r = expkit("entrypoints", CORPUS / "nanoGPT")
    assert r.returncode == 0 and r.stdout.startswith("suggested: python train.py config/train_shakespeare_char.py")
    assert "not a script to run: config/eval_gpt2.py (config override file" in r.stdout
    r = expkit("entrypoints", CORPUS / "cleanrl")
    assert "not a script to run: entrypoint.sh (docker entrypoint" in r.stdout


def test_a_module_of_assignments_is_never_offered_as_a_script(tmp_path):
    (tmp_path / "train_config.py").write_text("lr = 3e-4\nbatch_size = 32\n")
    (tmp_path / "train.py").write_text("import torch\nexec(open('train_config.py').read())\nloss.backward()\n")
    out = find_entrypoints(tmp_path)
    assert [c["path"] for c in out["candidates"]] == ["train.py"]
    assert {"path": "train_config.py", "why": "only assignments: nothing happens when it runs"} in out["excluded"]


def test_a_readme_naming_a_renamed_script_points_at_the_one_that_exists():
    """deep-learning-project-template's README says `python lit_classifier_main.py`; the file is now
    lit_image_classifier.py. The closest script is offered, and the candidate says why."""
    top = find_entrypoints(CORPUS / "deep-learning-project-template")["candidates"][0]
    assert top["command"] == "cd project && python lit_image_classifier.py"
    assert "README.md names lit_classifier_main.py, which is not here" in " ".join(top["why"])


def test_a_missing_script_with_no_clear_successor_is_not_guessed(tmp_path):
    (tmp_path / "a_model.py").write_text("print(1)\n")
    (tmp_path / "b_model.py").write_text("print(2)\n")
    (tmp_path / "README.md").write_text("```\npython model.py\npython c_model.py\n```\n")
    _, found = readme_commands(tmp_path, {})
    assert found == []  # `model` is in both names, `c` in neither: no guess
