"""`expkit plan new EXP_ID`: the plan entry, research/experiments/<id>.md, and a handler package with a test.

The plan entry is inserted as text at the end of the `experiments:` mapping, so the researcher's comments
and layout stay as they were; the result is validated and rolled back if it does not load.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from expkit.errors import ExpkitError
from expkit.fsutil import atomic_write_text
from expkit.plan.schema import PLAN_FILE, check_plan

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]*(-[A-Za-z0-9_.]+)*$")

PLAN_TEMPLATE = """project:
  name: {name}
  hypothesis: "TODO: the hypothesis this research tests"

experiments:
"""

ENTRY = """{ind}{exp_id}:
{ind}{ind}name: "{title}"
{ind}{ind}type: claim
{ind}{ind}phase: 1
{ind}{ind}status: not_started
{ind}{ind}description: "TODO: what this experiment tests and why"
{ind}{ind}sub_experiments: [{sub}]
{ind}{ind}success_criteria:
{ind}{ind}{ind}loss: {{target: 0.1, acceptable: 0.2, failure: 0.5, direction: lower, note: "TODO: your metric"}}
{ind}{ind}dependencies: []
"""

DOC = """# {title}

**Claim.** TODO: one sentence a colleague could test.

## Sub-experiments
{subs}

## What would change our mind
TODO: the result that would make you pivot.
"""

HANDLER = '''"""Handlers for {exp_id}. expkit finds them by convention: get_handlers() maps sub-experiment ids to functions."""

from __future__ import annotations

import random


def {func}(runner):
    """{sub}: TODO replace this toy loop by the real measurement. Log curves with runner.log_metrics."""
    rng = random.Random(runner.seed)
    loss = 1.0
    for step in range(20):
        loss *= 0.8 + 0.1 * rng.random()
        runner.log_metrics({{"loss": loss}}, step=step)
    path = runner.results.save_json_artifact("{sub}_summary.json", {{"final_loss": loss}})
    return {{"finding": f"Toy loop reached loss {{loss:.3f}} (replace with the real finding).",
            "metrics": {{"loss": loss}}, "artifacts": [path]}}


def get_handlers():
    return {{"{sub}": {func}}}
'''

HANDLER_TEST = '''"""Tests the {sub} handler of {exp_id} in the project's own environment: neither expkit nor pytest is needed.

Run it from the project root with the project's Python:

    python {path}
    python -m pytest {folder}    (the same, when the project has pytest)

`Runner` is a small stand-in with the attributes of expkit's runner that handlers use (seed, config, logger,
device, run_dir, log_metrics, results.save_artifact / save_json_artifact / get_artifact_path). The real runner,
in this same environment: expkit plan run {exp_id} --sub {sub}
"""

import json
import logging
import math
import sys
import tempfile
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[{depth}]))  # where `{module}` is imported from

from {module} import get_handlers  # noqa: E402


def plain(value):
    """numpy / torch values as Python numbers and lists, as expkit's runner converts them."""
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return value


class Results:
    def __init__(self, experiment_dir):
        self.experiment_dir = Path(experiment_dir)
        self.artifacts_dir = self.experiment_dir / "artifacts"
        self.saved = []

    def get_artifact_path(self, filename):
        assert not Path(filename).is_absolute() and ".." not in Path(filename).parts, filename
        path = self.artifacts_dir / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def save_artifact(self, filename, data):
        path = self.get_artifact_path(filename)
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else bytes(data))
        self.saved.append(path.relative_to(self.experiment_dir).as_posix())
        return self.saved[-1]

    def save_json_artifact(self, filename, obj):
        return self.save_artifact(filename, json.dumps(obj, indent=2, default=plain) + "\\n")


class Runner:
    def __init__(self, folder, seed=0, config=None):
        self.experiment_id, self.sub_experiment_id, self.sub_id = "{exp_id}", "{sub}", "{sub}"
        self.seed, self.config, self.stub = seed, dict(config or {{}}), False
        self.run_dir = Path(folder)
        self.results = Results(self.run_dir / "experiment")
        self.logger = logging.getLogger("{sub}")
        self.logged = []  # (step, {{metric: value}}) as log_metrics received them

    @property
    def device(self):
        try:
            import torch

            return "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:
            return "cpu"

    def log_metrics(self, metrics, step=None):
        self.logged.append((step, {{name: number(name, v) for name, v in metrics.items()}}))

    def close(self):
        pass


def number(name, value):
    value = plain(value)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    assert isinstance(value, (int, float)) and not isinstance(value, bool), f"metric {{name}}: {{value!r}} is not a number"
    return value


def test_{func}_returns_a_valid_result():
    with tempfile.TemporaryDirectory() as folder:
        runner = Runner(folder, seed=0)
        result = get_handlers()["{sub}"](runner)
        assert isinstance(result, dict) and set(result) == {{"finding", "metrics", "artifacts"}}, result
        assert isinstance(result["finding"], str) and result["finding"]
        metrics = {{name: number(name, v) for name, v in result["metrics"].items()}}
        assert "loss" in metrics and math.isfinite(metrics["loss"])  # the metric {exp_id}'s criterion judges
        for artifact in result["artifacts"]:
            assert (runner.results.experiment_dir / artifact).exists(), artifact


if __name__ == "__main__":
    failed = 0
    for name, test in sorted(globals().items()):
        if name.startswith("test_") and callable(test):
            try:
                test()
                print(f"ok    {{name}}")
            except Exception:  # noqa: BLE001 - report every test, then fail
                failed += 1
                traceback.print_exc()
                print(f"FAIL  {{name}}")
    sys.exit(1 if failed else 0)
'''


def _shown(path: Path, root: Path) -> str:
    """`path` as a researcher types it from the project root."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def default_sub(prefix: str) -> str:
    m = re.match(r"^[A-Za-z]+(\d+)$", prefix)
    return f"e{m.group(1)}_1" if m else f"{prefix}_1"


def _insert_entry(text: str, entry_for) -> str:
    import yaml

    node = yaml.compose(text, Loader=yaml.SafeLoader) if text.strip() else None
    if node is None:
        return text + "experiments:\n" + entry_for("  ")
    exps = next((v for k, v in node.value if k.value == "experiments"), None)
    lines = text.splitlines(keepends=True)
    if exps is None:
        return text.rstrip("\n") + "\n\nexperiments:\n" + entry_for("  ")
    if isinstance(exps, yaml.ScalarNode) and exps.value in ("", "~", "null"):
        line = exps.start_mark.line
        return "".join(lines[:line + 1]) + entry_for("  ") + "".join(lines[line + 1:])
    if not isinstance(exps, yaml.MappingNode) or exps.flow_style:
        raise ExpkitError("`experiments:` is not a block mapping, so the new entry cannot be inserted safely",
                          "add the experiment by hand under `experiments:` (see references/handler-patterns.md)")
    ind = " " * exps.value[0][0].start_mark.column if exps.value else "  "
    last_line = exps.value[-1][1].end_mark.line if exps.value else exps.start_mark.line
    # end_mark points past the last value; step back over blank/comment lines that belong to what follows
    end = min(last_line + (1 if exps.value[-1][1].end_mark.column else 0), len(lines))
    while end > 0 and (lines[end - 1].strip() == "" or lines[end - 1].startswith("#")):
        end -= 1
    before = "".join(lines[:end])
    if before and not before.endswith("\n"):
        before += "\n"
    return before + "\n" + entry_for(ind) + "".join(lines[end:])


def new_experiment(exp_id: str, plan_path: Path | None, cwd: Path, subs: list[str] | None = None) -> dict[str, Any]:
    from expkit.plan.handlers import handlers_root
    from expkit.plan.schema import load_plan

    if not _ID.match(exp_id):
        raise ExpkitError(f"'{exp_id}' is not a usable experiment id",
                          "use letters, digits and '-', starting with the handler prefix: c3-my-claim")
    created: list[str] = []
    if plan_path is None:
        from expkit.plan.schema import find_plan

        try:
            plan_path = find_plan(cwd)
        except ExpkitError:
            plan_path = cwd / "research" / PLAN_FILE
    plan_path = Path(plan_path)
    if not plan_path.exists():
        plan_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(plan_path, PLAN_TEMPLATE.format(name=cwd.resolve().name))
        created.append(str(plan_path))
    plan = load_plan(plan_path)
    if exp_id in plan.experiments:
        raise ExpkitError(f"{exp_id} is already in {plan.path}", f"edit it there, or check it: expkit plan check {exp_id}")
    prefix = exp_id.split("-", 1)[0]
    subs = subs or [default_sub(prefix)]
    title = f"{prefix.upper()}: " + (exp_id.split("-", 1)[1].replace("-", " ").capitalize() if "-" in exp_id
                                     else "TODO title")
    old = plan.path.read_text(encoding="utf-8")
    sub_list = ", ".join(subs)
    new = _insert_entry(old, lambda ind: ENTRY.format(ind=ind, exp_id=exp_id, title=title, sub=sub_list))
    atomic_write_text(plan.path, new)
    _plan, problems = check_plan(plan.path)
    if problems or exp_id not in _plan.experiments:
        atomic_write_text(plan.path, old)
        raise ExpkitError(f"could not add {exp_id} to {plan.path} safely ({problems[0] if problems else 'not found'})",
                          "add it by hand under `experiments:`; the file was left unchanged")
    plan = _plan
    doc = plan.research_dir / "experiments" / f"{exp_id}.md"
    if not doc.exists():
        doc.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(doc, DOC.format(title=title, subs="\n".join(
            f"- **{sub}** - TODO: what it measures, and which success criterion it reports." for sub in subs)))
        created.append(str(doc))
    pkg = handlers_root(plan) / prefix
    notes = []
    if (pkg / "__init__.py").exists():
        notes.append(f"{pkg}/__init__.py exists: add {sub_list} to its get_handlers()")
    else:
        pkg.mkdir(parents=True, exist_ok=True)
        func = "run_" + re.sub(r"\W", "_", subs[0])
        atomic_write_text(pkg / "__init__.py", HANDLER.format(exp_id=exp_id, func=func, sub=subs[0]))
        from expkit.plan.handlers import source_for

        module = source_for(plan, plan.experiments[exp_id]).module
        test_path = pkg / "test_handlers.py"
        atomic_write_text(test_path, HANDLER_TEST.format(
            exp_id=exp_id, func=func, sub=subs[0], module=module, depth=len(module.split(".")),
            path=_shown(test_path, plan.root), folder=_shown(pkg, plan.root)))
        created += [str(pkg / "__init__.py"), str(pkg / "test_handlers.py")]
        if len(subs) > 1:
            notes.append(f"only {subs[0]} has an example handler: add {', '.join(subs[1:])} to get_handlers()")
    return {"experiment_id": exp_id, "plan": str(plan.path), "created": created, "notes": notes,
            "next": f"expkit plan check {exp_id}"}
