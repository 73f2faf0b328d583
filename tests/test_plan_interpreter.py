"""Handlers run in the project's Python, never expkit's: which interpreter is chosen, that it is recorded, and that
the handler process gets the runner API without expkit installed there.

The project environment here is a real, separate virtualenv (no pip, no system site-packages, no expkit) holding a
package only it has (`projlib`); the runner runs in the test environment with this checkout's expkit on its
sys.path only (no PYTHONPATH), as bin/expkit runs it from its own venv. tests/test_topology.py does the same with
torch and wandb through bin/expkit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import HELPERS, Result, git

RUNNER = f"import sys; sys.path.insert(0, {str(HELPERS)!r}); from expkit.cli import main; sys.exit(main())"

HANDLERS = '''
import importlib.util, json, os, subprocess, sys, time

import projlib


def where(runner):
    runner.log_metrics({"loss": 0.5}, step=0)
    runner.log_metrics({"loss": 0.25}, step=1)
    path = runner.results.save_json_artifact("where.json", {"executable": sys.executable, "prefix": sys.prefix,
        "expkit_importable": importlib.util.find_spec("expkit") is not None, "projlib": projlib.VERSION,
        "seed": runner.seed, "sys_path": sys.path})
    runner.results.save_artifact("note.txt", "plain text")
    return {"finding": "ran", "metrics": {"score": 0.9}, "artifacts": [path]}


def hang(runner):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    marker = os.environ["MARKERS"]
    with open(os.path.join(marker, "hang.pids.tmp"), "w") as fh:
        json.dump({"handler": os.getpid(), "grandchild": child.pid, "server": os.getppid()}, fh)
    os.replace(os.path.join(marker, "hang.pids.tmp"), os.path.join(marker, "hang.pids"))
    time.sleep(300)


def get_handlers():
    return {"e1_1": where, "e2_1": where, "h1": hang}
'''

PLAN = """project: {name: interp}
experiments:
  c1-where:
    name: where do handlers run
    sub_experiments: [e1_1]
    success_criteria:
      score: {target: 0.8, acceptable: 0.5, failure: 0.1, direction: higher}
  c2-where:
    name: per-experiment interpreter
    handlers: handlers.c1
    sub_experiments: [e2_1]
    success_criteria:
      score: {target: 0.8, acceptable: 0.5, failure: 0.1, direction: higher}
  c3-hang:
    name: a unit that never ends
    handlers: handlers.c1
    sub_experiments: [h1]
    success_criteria:
      score: {target: 0.8, acceptable: 0.5, failure: 0.1, direction: higher}
"""


def make_venv(path: Path, version: str) -> Path:
    """A real virtualenv without pip (fast) holding `projlib`, a package only the project has."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=120)
    site = next(path.glob("lib/python3*/site-packages"))
    (site / "projlib.py").write_text(f"VERSION = {version!r}\n")
    return path / "bin" / "python"


@pytest.fixture(scope="module")
def venvs(tmp_path_factory):
    base = tmp_path_factory.mktemp("venvs")
    return {"project": make_venv(base / "project", "project-1.0"), "other": make_venv(base / "other", "other-2.0")}


def project(tmp_path: Path, plan: str = PLAN) -> Path:
    proj = tmp_path / "proj"
    (proj / "research").mkdir(parents=True)
    (proj / "handlers" / "c1").mkdir(parents=True)
    (proj / "research" / "research_plan.yaml").write_text(plan)
    (proj / "handlers" / "c1" / "__init__.py").write_text(HANDLERS)
    (proj / ".gitignore").write_text("runs/\n")
    git(proj, "init", "-q")
    git(proj, "add", ".")
    git(proj, "commit", "-qm", "init")
    return proj


def user_env(venv_python: Path | None = None, **extra: str) -> dict:
    """A user's shell: the project venv activated (VIRTUAL_ENV, its bin first on PATH), no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "CONDA_PREFIX", "EXPKIT_RUNS_DIR", "WANDB_MODE",
                        "WANDB_PROJECT")}
    if venv_python is not None:
        env["VIRTUAL_ENV"] = str(venv_python.parent.parent)
        env["PATH"] = f"{venv_python.parent}{os.pathsep}{env['PATH']}"
    env.update(extra)
    return env


def expkit(*args, cwd, env, timeout=120) -> Result:
    return Result(subprocess.run([sys.executable, "-c", RUNNER, *map(str, args)], cwd=cwd, env=env,
                                 capture_output=True, text=True, timeout=timeout))


def artifact(proj: Path, exp_id: str) -> dict:
    return json.loads((proj / "research" / "experiments" / exp_id / "artifacts" / "where.json").read_text())


def manifest(proj: Path, run_id: str) -> dict:
    return json.loads((proj / "runs" / run_id / "manifest.json").read_text())


def test_handlers_run_in_the_active_virtualenv_without_expkit_installed_there(tmp_path, venvs):
    proj = project(tmp_path)
    py = venvs["project"]
    r = expkit("plan", "run", "c1-where", "--json", cwd=proj, env=user_env(py))
    assert r.returncode == 0, r
    out = r.json()
    assert out["counts"]["completed"] == 1 and out["recommendation"] == "proceed"
    seen = artifact(proj, "c1-where")
    assert Path(seen["prefix"]) == py.parent.parent  # the project's venv ran the handler ...
    assert seen["projlib"] == "project-1.0"  # ... with the project's packages ...
    assert seen["expkit_importable"] is False  # ... and nothing of expkit installed or importable as `expkit`
    from_expkit = [p for p in seen["sys_path"] if p.startswith(str(HELPERS))]
    assert from_expkit == [str(HELPERS / "expkit" / "plan" / "runtime")]  # its own folder, holding nothing else
    run_id = out["ran"][0]["run_id"]
    m = manifest(proj, run_id)
    assert m["python"]["executable"] == str(py) or Path(m["python"]["prefix"]) == py.parent.parent
    assert m["python"]["chosen_by"].startswith("$VIRTUAL_ENV")
    assert m["command"]["argv"][0] == str(py)
    assert seen["seed"] == m["seed"]["value"]
    metrics = [json.loads(line) for line in (proj / "runs" / run_id / "metrics.jsonl").read_text().splitlines()]
    assert [row["loss"] for row in metrics] == [0.5, 0.25]
    log = (proj / "runs" / run_id / "stdout.log").read_text()
    assert f"in {py}" in log or str(py.parent.parent) in log


def test_the_order_python_option_then_plan_key_then_environment(tmp_path, venvs):
    plan = PLAN.replace("    handlers: handlers.c1\n    sub_experiments: [e2_1]",
                        f"    handlers: handlers.c1\n    python: {venvs['other']}\n    sub_experiments: [e2_1]")
    plan = f"python: {venvs['project'].parent.parent}\n" + plan  # a venv folder is accepted too
    proj = project(tmp_path, plan)
    env = user_env(venvs["other"])  # the active venv loses to the plan's python:
    r = expkit("plan", "run", "c1-where", "--json", cwd=proj, env=env)
    assert r.returncode == 0, r
    assert artifact(proj, "c1-where")["projlib"] == "project-1.0"
    assert manifest(proj, r.json()["ran"][0]["run_id"])["python"]["chosen_by"] == "python: in research_plan.yaml"

    r = expkit("plan", "run", "c2-where", "--json", cwd=proj, env=user_env(venvs["project"]))
    assert r.returncode == 0, r  # the experiment's own python: wins over the plan's and the active venv
    assert artifact(proj, "c2-where")["projlib"] == "other-2.0"
    assert manifest(proj, r.json()["ran"][0]["run_id"])["python"]["chosen_by"] == \
        "python: in research_plan.yaml (c2-where)"

    r = expkit("plan", "run", "c2-where", "--python", venvs["project"], "--json", cwd=proj, env=env)
    assert r.returncode == 0, r  # --python wins over everything
    assert artifact(proj, "c2-where")["projlib"] == "project-1.0"
    assert manifest(proj, r.json()["ran"][0]["run_id"])["python"]["chosen_by"] == "--python"


def test_a_project_venv_is_found_without_activation_and_expkits_own_python_is_a_warning(tmp_path, venvs):
    proj = project(tmp_path)
    r = expkit("plan", "run", "c1-where", "--json", cwd=proj, env=user_env())
    assert r.returncode == 1, r  # expkit's own environment has no projlib: the failure comes with the reason
    assert "no project environment found" in r.stderr and "--python" in r.stderr
    assert any("expkit's own interpreter" in w for w in r.json()["warnings"])
    assert "No module named 'projlib'" in r.json()["failed"]["e1_1"]

    (proj / ".venv").symlink_to(venvs["project"].parent.parent)
    r = expkit("plan", "run", "c1-where", "--json", cwd=proj, env=user_env())
    assert r.returncode == 0, r
    assert "no project environment found" not in r.stderr
    assert artifact(proj, "c1-where")["projlib"] == "project-1.0"
    assert manifest(proj, r.json()["ran"][0]["run_id"])["python"]["chosen_by"] == "the project's .venv/"


def test_plan_check_imports_the_handlers_in_the_chosen_interpreter_and_says_which(tmp_path, venvs):
    proj = project(tmp_path)
    r = expkit("plan", "check", "c1-where", cwd=proj, env=user_env(venvs["project"]))
    assert r.returncode == 0, r
    first = r.stdout.splitlines()[0]
    assert first.startswith("pass  interpreter: handlers run in") and str(venvs["project"]) in first
    assert "chosen by $VIRTUAL_ENV" in first
    # without the project's env, `import projlib` fails: the check says so, in the interpreter it used
    r = expkit("plan", "check", "c1-where", "--json", cwd=proj, env=user_env())
    assert r.returncode == 1, r
    checks = {c["check"]: c for c in r.json()["checks"]}
    assert "expkit's own interpreter" in checks["interpreter"]["detail"]
    assert not checks["handler import"]["ok"] and "projlib" in checks["handler import"]["detail"]
    assert sys.executable in checks["handler import"]["fix"]


def test_a_bad_python_is_refused_before_anything_is_written(tmp_path):
    proj = project(tmp_path)
    for bad, words in ((tmp_path / "nope" / "python", "does not exist"), (tmp_path, "holds no bin/python")):
        r = expkit("plan", "run", "c1-where", "--python", bad, cwd=proj, env=user_env())
        assert r.returncode == 2, r
        assert r.stderr.startswith("error: --python") and words in r.stderr and "hint:" in r.stderr
        assert "Traceback" not in r.stderr
    (proj / "research" / "research_plan.yaml").write_text("python: envs/missing\n" + PLAN)
    r = expkit("plan", "run", "c1-where", cwd=proj, env=user_env())
    assert r.returncode == 2 and "python: in research_plan.yaml" in r.stderr and "hint:" in r.stderr, r
    assert not (proj / "research" / "experiments").exists() and not (proj / "runs").exists()


def test_a_python_too_old_for_the_runtime_is_a_clear_error(tmp_path):
    """An interpreter the runtime cannot start in (here: a script that exits like Python 2 would)."""
    proj = project(tmp_path)
    fake = tmp_path / "py27" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\necho 'SyntaxError: invalid syntax' >&2\nexit 1\n")
    fake.chmod(0o755)
    r = expkit("plan", "run", "c1-where", "--python", fake, cwd=proj, env=user_env())
    assert r.returncode == 2, r
    assert "could not start expkit's plan runtime: SyntaxError" in r.stderr and "Python 3.8" in r.stderr


def test_killing_the_runner_kills_the_unit_and_everything_it_started(tmp_path, venvs):
    proj = project(tmp_path)
    markers = tmp_path / "markers"
    markers.mkdir()
    runner = subprocess.Popen([sys.executable, "-c", RUNNER, "plan", "run", "c3-hang"], cwd=proj,
                              env=user_env(venvs["project"], MARKERS=str(markers)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (markers / "hang.pids").exists():
            assert time.monotonic() < deadline and runner.poll() is None, "the handler never started"
            time.sleep(0.05)
        pids = json.loads((markers / "hang.pids").read_text())
        runner.send_signal(signal.SIGKILL)
        runner.wait()
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in pids.values()):
            assert time.monotonic() < deadline, {k: _alive(p) for k, p in pids.items()}
            time.sleep(0.05)
    finally:
        if runner.poll() is None:
            runner.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_the_scaffolded_handler_test_runs_in_the_project_env_without_expkit_or_pytest(tmp_path, venvs):
    proj = tmp_path / "fresh"
    proj.mkdir()
    r = expkit("plan", "new", "c3-deeper-model", cwd=proj, env=user_env())
    assert r.returncode == 0, r
    test_file = proj / "handlers" / "c3" / "test_handlers.py"
    assert "python handlers/c3/test_handlers.py" in test_file.read_text()  # it says how to run it
    py = str(venvs["project"])  # a bare venv: no expkit, no pytest
    assert subprocess.run([py, "-c", "import pytest"], capture_output=True).returncode != 0
    for cwd in (proj, tmp_path):  # from the project root as documented, and from elsewhere
        done = subprocess.run([py, str(test_file.relative_to(proj)) if cwd == proj else str(test_file)], cwd=cwd,
                              env=user_env(), capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "ok    test_run_e3_1_returns_a_valid_result" in done.stdout
    init = proj / "handlers" / "c3" / "__init__.py"
    init.write_text(init.read_text().replace('"metrics": {"loss": loss}', '"metrics": {"loss": "low"}'))
    done = subprocess.run([py, str(test_file)], cwd=proj, env=user_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "FAIL  test_run_e3_1_returns_a_valid_result" in done.stdout
    assert "metric loss: 'low' is not a number" in done.stderr

    # the stand-in runner offers nothing the real one lacks, so a handler that passes here runs under expkit
    import importlib.util

    from expkit.plan.api import ExperimentRunner, ResultsWriter

    spec = importlib.util.spec_from_file_location("scaffolded_test", test_file)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(proj))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(proj))
        sys.modules.pop("handlers.c3", None)
        sys.modules.pop("handlers", None)
    stand_in = module.Runner(tmp_path)
    real = ExperimentRunner(experiment_id="c3", sub_experiment_id="e3_1", seed=0, config={},
                            experiment_dir=tmp_path / "exp", run_dir=tmp_path)
    public = {n for n in dir(stand_in) if not n.startswith("_")} - {"logged"}
    assert public <= {n for n in dir(real) if not n.startswith("_")}, public - set(dir(real))
    assert {n for n in dir(stand_in.results) if not n.startswith("_")} <= set(dir(real.results))
    assert isinstance(real.results, ResultsWriter)
    real.close()


def test_wandb_asked_for_but_missing_in_the_project_env_is_a_warning_not_a_failure(tmp_path, venvs):
    """The runner's own environment has wandb; the project's does not: metrics stay in metrics.jsonl."""
    proj = project(tmp_path)
    r = expkit("plan", "run", "c1-where", "--json", cwd=proj, env=user_env(venvs["project"], WANDB_MODE="offline"))
    assert r.returncode == 0, r
    assert any("wandb is not installed in" in w and str(venvs["project"]) in w for w in r.json()["warnings"])
    run_dir = proj / "runs" / r.json()["ran"][0]["run_id"]
    assert not (run_dir / "wandb").exists() and (run_dir / "metrics.jsonl").read_text().count("\n") == 2


def test_the_runtime_is_one_standard_library_file_that_parses_as_python_3_8():
    """What runs in the project's interpreter: nothing outside the standard library, no syntax newer than 3.8
    (ast's feature_version check; the handler process itself is exercised above in a real venv)."""
    import ast

    from expkit.plan.local import RUNTIME

    source = Path(RUNTIME).read_text()
    tree = ast.parse(source, feature_version=(3, 8))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.level == 0}
    lazy = {"torch", "numpy", "wandb"}  # used only when the handler's environment has them
    assert imported - lazy <= set(sys.stdlib_module_names), imported - lazy - set(sys.stdlib_module_names)
    assert "expkit" not in imported
    assert sorted(p.name for p in Path(RUNTIME).parent.iterdir() if p.suffix == ".py") == \
        ["__init__.py", "expkit_plan_runtime.py"]  # its folder goes on sys.path: nothing else may be there
