"""Runs one sub-experiment inside its own process: import the handler, call it, record result.json.

Input: <run dir>/job.json (written by the runner; a relative experiment_dir is relative to the run dir, relative
handler paths to the working dir, which is how a job travels to a Modal container). Output: <run dir>/result.json,
atomically:
{"ok": true, "result": {...}} or {"ok": false, "error": {"type", "message", "traceback"}}.
The same entry serves a forked child (local) and `python -m expkit.plan.worker RUN_DIR` (any backend).
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any

import json
import os

from expkit.fsutil import read_json

JOB = "job.json"
RESULT = "result.json"
STUB_NOTE = "STUB: placeholder result from the stub handler; the real handler was not run"


def stub_handler(runner) -> dict[str, Any]:
    """Exercises the whole harness (metrics, artifacts, verdict, findings) with obviously fake values."""
    metrics = {m: float(c["target"]) for m, c in runner.config.get("_criteria", {}).items()}
    for step in range(3):
        runner.log_metrics({"stub_loss": 1.0 / (step + 1), **metrics}, step=step)
    path = runner.results.save_artifact("stub.txt", f"stub artifact for {runner.sub_experiment_id}\n")
    return {"finding": STUB_NOTE, "metrics": metrics, "artifacts": [path]}


def write_json_fast(path: Path, obj: Any) -> None:
    """Temp file + rename, without fsync: readers never see half a file; these records are re-creatable
    (results.yaml, written with fsync by the runner, is the durable record)."""
    from expkit.redact import Redactor, secret_values

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if path.name == RESULT:  # run dirs are shared: no secret of this environment in what the handler returned
        obj = Redactor(secret_values(os.environ)).strings(obj)
    tmp.write_text(json.dumps(obj, indent=1, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _error(exc: BaseException) -> dict[str, Any]:
    return {"type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()}


def run_job(run_dir: Path) -> int:
    """Returns the exit code: 0 ok, 1 the handler failed (result.json says why)."""
    from expkit.plan.api import ExperimentRunner, check_result
    from expkit.plan.handlers import import_handlers

    run_dir = Path(run_dir)
    job = read_json(run_dir / JOB)
    out = run_dir / RESULT
    sub = job["sub_id"]
    source = _source(job["source"])
    if job.get("probe"):  # `plan check`: can the handler module be imported, which handlers does it register?
        try:
            names = sorted(import_handlers(source))
            write_json_fast(out, {"ok": True, "handlers": names})
            return 0
        except BaseException as exc:  # noqa: BLE001 - any import failure is the answer
            write_json_fast(out, {"ok": False, "error": _error(exc)})
            return 1
    config, wandb_init = job["config"], job.get("wandb_init")
    if isinstance(config.get("run"), dict):
        config["run"]["run_dir"] = str(run_dir)  # where this process runs (a Modal container: on the Volume)
    if wandb_init is not None:
        wandb_init.setdefault("dir", str(run_dir))
    runner = ExperimentRunner(experiment_id=job["experiment_id"], sub_experiment_id=sub, seed=job["seed"],
                              config=config, experiment_dir=run_dir / job["experiment_dir"], run_dir=run_dir,
                              stub=job["stub"], artifacts_subdir=job.get("artifacts_subdir", ""),
                              wandb_init=wandb_init)
    try:
        if job["stub"]:
            handler = stub_handler
        else:
            handlers = import_handlers(source)
            if sub not in handlers:
                raise LookupError(f"No handler registered for sub-experiment {sub} "
                                  f"(registered: {', '.join(sorted(handlers)) or 'none'})")
            handler = handlers[sub]
        _seed_everything(job["seed"])
        print(f"expkit: running {job['experiment_id']}/{sub} seed={job['seed']}"
              f"{' (stub)' if job['stub'] else ''}", flush=True)
        result = check_result(handler(runner))
        saved = [a for a in runner.results.saved if a not in result["artifacts"]]
        result["artifacts"] = result["artifacts"] + saved
        runner.close()
        write_json_fast(out, {"ok": True, "result": result})
        return 0
    except BaseException as exc:  # noqa: BLE001 - the failure of this sub-experiment, recorded with its traceback
        traceback.print_exc()
        try:
            runner.close()
        except Exception:  # noqa: BLE001
            pass
        write_json_fast(out, {"ok": False, "error": _error(exc)})
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def _source(spec: dict[str, Any]):
    """The handler source; relative paths (a job shipped to another machine) are relative to the working dir."""
    from expkit.plan.handlers import HandlerSource

    return HandlerSource(spec["module"], [os.path.abspath(p) for p in spec["paths"]], Path(spec["location"]))


def _seed_everything(seed: int) -> None:
    """Seed the RNGs a handler is likely to use, without importing libraries it did not import."""
    import random

    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed % 2**32)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


def main() -> None:
    """`python -m expkit.plan.worker [RUN_DIR]` (default $EXPKIT_RUN_DIR): how a non-local backend runs one."""
    run_dir = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("EXPKIT_RUN_DIR")
    if not run_dir:
        sys.exit("usage: python -m expkit.plan.worker RUN_DIR (or set EXPKIT_RUN_DIR)")
    sys.exit(run_job(Path(run_dir)))


if __name__ == "__main__":
    main()
