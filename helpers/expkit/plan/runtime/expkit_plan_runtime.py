"""The plan runtime: everything a sub-experiment's process needs, in the project's Python. Standard library only.

Handlers run in the project's interpreter (the one with torch, wandb and the project's own packages), never in
expkit's. This file is the only part of expkit that interpreter loads (with expkit's log pump, logpump.py, loaded by
path when a run has secrets to scrub from its log): the runner starts it by path, so Python puts its folder (which
holds nothing else) on sys.path, and nothing is installed into the project's environment.
It works on Python 3.8 and newer.

    python expkit_plan_runtime.py RUN_DIR     run RUN_DIR/job.json once (a Slurm job, or by hand); RUN_DIR
                                              defaults to $EXPKIT_RUN_DIR
    python expkit_plan_runtime.py --serve PID the unit server of a local plan run (PID: the runner's)

The unit server is started once per experiment run. It imports nothing but this file, then for each unit the
runner sends it (one JSON line on stdin) forks a child that starts its own session (so a timeout kills the
handler and everything it started), dies with the server, which dies with the runner (no orphan keeps a GPU),
writes its output to the run's stdout.log, imports the handlers and runs one. Forking a fresh process per unit
keeps units isolated from each other and costs a fraction of an interpreter start-up.

Input: <run dir>/job.json (written by the runner; a relative experiment_dir is relative to the run dir, relative
handler paths to the working dir, which is how a job travels to a Modal container). Output: <run dir>/result.json,
atomically: {"ok": true, "result": {...}} or {"ok": false, "error": {"type", "message", "traceback"}}.
`expkit.plan.api` re-exports the runner API defined here (ExperimentRunner, ResultsWriter, MetricsSink).
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import os
import platform
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Dict, List

JOB = "job.json"
RESULT = "result.json"
SCRUB_ENV = "EXPKIT_SCRUB_SECRETS"  # = expkit.redact.SCRUB_ENV (this file imports nothing from expkit)
METRICS_FILE = "metrics.jsonl"
RESULT_KEYS = ("finding", "metrics", "artifacts")
STUB_NOTE = "STUB: placeholder result from the stub handler; the real handler was not run"
MIN_PYTHON = (3, 8)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to a temp file in the same folder, fsync it, then rename it over `path`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json_fast(path: Path, obj: Any) -> None:
    """Temp file + rename, without fsync: readers never see half a file; these records are re-creatable
    (results.yaml, written with fsync by the runner, is the durable record)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


# ---------------------------------------------------------------- the runner API a handler sees

def to_plain(obj: Any) -> Any:
    """numpy/torch scalars and arrays -> Python numbers and lists (tensors detached and moved to the CPU)."""
    kind = type(obj)
    if obj is None or kind in (bool, int, float, str):
        return obj
    if isinstance(obj, (int, float)) and not hasattr(obj, "item"):  # a plain subclass, e.g. an IntEnum
        return float(obj) if isinstance(obj, float) else int(obj)
    if isinstance(obj, dict):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_plain(v) for v in obj]
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # torch.Tensor
        obj = obj.detach().cpu()
        return to_plain(obj.tolist()) if obj.dim() else to_plain(obj.item())
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return to_plain(obj.tolist())
    if hasattr(obj, "item"):
        return to_plain(obj.item())
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def to_number(value: Any) -> float | int:
    """A metric value as a Python number; raise TypeError for anything that is not one scalar."""
    kind = type(value)
    if kind is float or kind is int:
        return value
    if isinstance(value, bool) or isinstance(value, str) or value is None:
        raise TypeError(f"{value!r} is not a number")
    plain = to_plain(value)
    if isinstance(plain, list) and len(plain) == 1:
        plain = plain[0]
    if isinstance(plain, (int, float)) and not isinstance(plain, bool):
        return plain
    raise TypeError(f"{type(value).__name__} {value!r} is not a single number")


def _json_safe(obj: Any) -> Any:
    """NaN/inf written explicitly as the strings "NaN", "Infinity", "-Infinity" (valid JSON for any reader)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_json_safe(v) for v in obj]
    return obj


class ResultsWriter:
    """Saves a sub-experiment's artifacts in research/experiments/<id>/artifacts/ (paths returned relative)."""

    def __init__(self, experiment_dir: Path, subdir: str = ""):
        self.experiment_dir = Path(experiment_dir)
        self.artifacts_dir = self.experiment_dir / "artifacts" / subdir if subdir else self.experiment_dir / "artifacts"
        self.saved: list[str] = []

    def get_artifact_path(self, filename: str) -> Path:
        """The absolute path for an artifact; `../` and absolute paths are refused."""
        name = str(filename)
        parts = Path(name).parts
        if not name or Path(name).is_absolute() or ".." in parts or name.startswith("~"):
            raise ValueError(f"artifact filename {filename!r} must be a relative path inside the artifacts dir "
                             "(no '..', no absolute path)")
        path = self.artifacts_dir / name
        root = self.artifacts_dir.resolve()
        real = path.resolve()  # through any symlink planted in the artifacts dir
        if real == root or root not in real.parents:
            raise ValueError(f"artifact filename {filename!r} leads outside the artifacts dir (to {real}): "
                             "a symlink in it points elsewhere; remove it or pick another name")
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _relative(self, path: Path) -> str:
        rel = path.relative_to(self.experiment_dir).as_posix()
        if rel not in self.saved:
            self.saved.append(rel)
        return rel

    def save_artifact(self, filename: str, data: bytes | str) -> str:
        path = self.get_artifact_path(filename)
        atomic_write_bytes(path, data.encode("utf-8") if isinstance(data, str) else bytes(data))
        return self._relative(path)

    def save_json_artifact(self, filename: str, obj: Any) -> str:
        text = json.dumps(_json_safe(to_plain(obj)), indent=2, allow_nan=False)
        return self.save_artifact(filename, text + "\n")


_INF = float("inf")


def _number_json(v: float | int) -> str:
    """A number exactly as json.dumps writes it (NaN, Infinity, -Infinity included)."""
    if type(v) is int:
        return int.__repr__(v)
    if v != v:
        return "NaN"
    if v == _INF:
        return "Infinity"
    if v == -_INF:
        return "-Infinity"
    return float.__repr__(float(v))


class MetricsSink:
    """metrics.jsonl always; W&B too when configured (names prefixed by the sub-experiment: e1_1/loss)."""

    def __init__(self, path: Path, prefix: str, wandb_run: Any = None):
        self.path = Path(path)
        self.prefix = prefix
        self._fh = open(self.path, "a", encoding="utf-8", buffering=1 << 16)
        self._wandb = wandb_run
        self._step = 0
        self._last_flush = time.monotonic()
        self._names: dict[str, str] = {}  # metric -> "<sub>/<metric>" for W&B
        self._keys: dict[str, str] = {}  # metric -> its JSON-quoted name

    def log(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if step is None:
            step = self._step
        self._step = step + 1
        clean = {}
        for key, value in metrics.items():
            try:
                clean[key] = to_number(value)
            except TypeError as exc:
                raise TypeError(f"log_metrics: metric '{key}': {exc}") from None
        # the line json.dumps would write, built directly: this runs once per training step
        keys = self._keys
        parts = [f'{{"_step": {step}, "_time": {_number_json(round(time.time(), 3))}']
        for key, value in clean.items():
            k = keys.get(key) or keys.setdefault(key, json.dumps(key if isinstance(key, str) else str(key)))
            parts.append(f", {k}: {_number_json(value)}")
        parts.append("}\n")
        self._fh.write("".join(parts))
        now = time.monotonic()
        if now - self._last_flush > 1.0:  # readable live by `expkit runs metrics`/tail without a syscall per call
            self._fh.flush()
            self._last_flush = now
        if self._wandb is not None:
            names = self._names
            self._wandb.log({names.get(k) or names.setdefault(k, f"{self.prefix}/{k}"): v for k, v in clean.items()},
                            step=step)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None



class ExperimentRunner:
    """The handle a handler gets. Attributes: experiment_id, sub_experiment_id, seed, config, stub, results,
    logger, run_dir, device."""

    def __init__(self, *, experiment_id: str, sub_experiment_id: str, seed: int, config: dict[str, Any],
                 experiment_dir: Path, run_dir: Path, stub: bool = False, artifacts_subdir: str = "",
                 wandb_init: dict[str, Any] | None = None):
        self.experiment_id = experiment_id
        self.sub_experiment_id = sub_experiment_id
        self.sub_id = sub_experiment_id
        self.seed = seed
        self.config = config
        self.stub = stub
        self.run_dir = Path(run_dir)
        self.results = ResultsWriter(experiment_dir, artifacts_subdir)
        self.logger = logging.getLogger(f"expkit.plan.{sub_experiment_id}")
        if not self.logger.handlers:
            handler = logging.StreamHandler()
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            self.logger.addHandler(handler)
            self.logger.setLevel(logging.INFO)
        self._wandb_init = wandb_init
        self._sink: MetricsSink | None = None

    @property
    def device(self) -> str:
        """'cuda' when a GPU is visible and torch can use it, else 'cpu' (torch is imported only if asked)."""
        if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
            return "cpu"
        try:
            import torch

            return "cuda" if torch.cuda.is_available() else "cpu"
        except ImportError:
            return "cpu"

    @property
    def device_info(self) -> dict[str, Any]:
        return {"device": self.device, "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}

    def _open_sink(self) -> MetricsSink:
        run = None
        if self._wandb_init is not None:
            try:
                import wandb

                run = wandb.init(**self._wandb_init)
            except Exception as exc:  # noqa: BLE001 - e.g. not logged in: keep the metrics locally, say why
                self.logger.warning("W&B logging is off for this sub-experiment (%s: %s); metrics still go to %s",
                                    type(exc).__name__, exc, METRICS_FILE)
        self._sink = MetricsSink(self.run_dir / METRICS_FILE, self.sub_experiment_id, run)
        return self._sink

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """Record scalar metrics (a curve when called per step): metrics.jsonl, and W&B when configured."""
        (self._sink or self._open_sink()).log(metrics, step)

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()


def check_result(value: Any) -> dict[str, Any]:
    """A handler's return value, validated and converted; ValueError saying exactly what is wrong."""
    if not isinstance(value, dict):
        raise ValueError(f"the handler returned {type(value).__name__}, expected a dict with keys "
                         f"{', '.join(RESULT_KEYS)}: return {{'finding': '...', 'metrics': {{...}}, 'artifacts': []}}")
    missing = [k for k in RESULT_KEYS if k not in value]
    extra = [k for k in value if k not in RESULT_KEYS]
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
                ([f"unexpected {', '.join(map(str, extra))}"] if extra else [])
        raise ValueError(f"the handler's result has {'; '.join(parts)}: expected exactly "
                         f"{', '.join(RESULT_KEYS)} (put extra values in metrics or an artifact)")
    if not isinstance(value["finding"], str):
        raise ValueError(f"'finding' must be a str, got {type(value['finding']).__name__}")
    if not isinstance(value["metrics"], dict):
        raise ValueError(f"'metrics' must be a dict of name -> number, got {type(value['metrics']).__name__}")
    if not isinstance(value["artifacts"], (list, tuple)):
        raise ValueError(f"'artifacts' must be a list of paths, got {type(value['artifacts']).__name__}")
    metrics = {}
    for key, v in value["metrics"].items():
        try:
            metrics[str(key)] = to_number(v)
        except TypeError as exc:
            raise ValueError(f"metric '{key}': {exc} (metric values must be numbers)") from None
    return {"finding": value["finding"], "metrics": metrics, "artifacts": [str(a) for a in value["artifacts"]]}


# ---------------------------------------------------------------- finding and running a handler

def import_handlers(module: str, paths: List[str], location: str = "") -> Dict[str, Callable]:
    """Import the handler module and call get_handlers(); raise ImportError/TypeError with what to fix."""
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    importlib.invalidate_caches()
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise ImportError(f"no handler package {module} (expected {location}/__init__.py "
                              f"with get_handlers())") from None
        raise
    get = getattr(mod, "get_handlers", None)
    if not callable(get):
        raise TypeError(f"{module} has no get_handlers() function returning {{sub_id: handler}}")
    handlers = get()
    if not isinstance(handlers, dict):
        raise TypeError(f"{module}.get_handlers() returned {type(handlers).__name__}, expected a dict "
                        "{sub_id: handler}")
    return {str(k): v for k, v in handlers.items()}


def stub_handler(runner) -> Dict[str, Any]:
    """Exercises the whole harness (metrics, artifacts, verdict, findings) with obviously fake values."""
    metrics = {m: float(c["target"]) for m, c in runner.config.get("_criteria", {}).items()}
    for step in range(3):
        runner.log_metrics({"stub_loss": 1.0 / (step + 1), **metrics}, step=step)
    path = runner.results.save_artifact("stub.txt", f"stub artifact for {runner.sub_experiment_id}\n")
    return {"finding": STUB_NOTE, "metrics": metrics, "artifacts": [path]}


def error_record(exc: BaseException) -> Dict[str, Any]:
    return {"type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()}


def _source(spec: Dict[str, Any]) -> Dict[str, Any]:
    """Relative handler paths (a job shipped to another machine) are relative to the working dir."""
    return {"module": spec["module"], "paths": [os.path.abspath(p) for p in spec["paths"]],
            "location": str(spec["location"])}


def run_job(run_dir: str | os.PathLike) -> int:
    """Run the job in run_dir/job.json. Returns the exit code: 0 ok, 1 the handler failed (result.json says why)."""
    run_dir = Path(run_dir)
    job = read_json(run_dir / JOB)
    out = run_dir / RESULT
    sub = job["sub_id"]
    source = _source(job["source"])
    if job.get("probe"):  # can the handler module be imported, which handlers does it register?
        try:
            names = sorted(import_handlers(**source))
            write_json_fast(out, {"ok": True, "handlers": names})
            return 0
        except BaseException as exc:  # noqa: BLE001 - any import failure is the answer
            write_json_fast(out, {"ok": False, "error": error_record(exc)})
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
            handlers = import_handlers(**source)
            if sub not in handlers:
                raise LookupError(f"No handler registered for sub-experiment {sub} "
                                  f"(registered: {', '.join(sorted(handlers)) or 'none'})")
            handler = handlers[sub]
        seed_everything(job["seed"])
        print(f"expkit: running {job['experiment_id']}/{sub} seed={job['seed']}"
              f"{' (stub)' if job['stub'] else ''} in {sys.executable} (Python {platform.python_version()})",
              flush=True)
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
        write_json_fast(out, {"ok": False, "error": error_record(exc)})
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def seed_everything(seed: int) -> None:
    """Seed the RNGs a handler is likely to use, without importing libraries it did not import."""
    import random

    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed % 2**32)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


# ---------------------------------------------------------------- the unit server (local plan runs)

def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Linux: this process gets `sig` when its parent dies, so no orphan keeps a GPU busy."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _send(msg: Dict[str, Any]) -> None:
    os.write(1, (json.dumps(msg) + "\n").encode("utf-8"))


def _logpump() -> Any:
    """expkit's log pump (standard library only), loaded by path from the package this file belongs to: the one
    implementation that scrubs stdout.log, here too."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "logpump.py"
    spec = importlib.util.spec_from_file_location("expkit_logpump", str(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _child(request: Dict[str, Any], server_pid: int, out_fd: int = -1) -> None:
    """The forked unit: its own session, its output in stdout.log (or into `out_fd`, the log pump's pipe, when
    the run has secrets to scrub), the run's environment. Never returns."""
    code = 1
    try:
        os.setsid()  # its own process group: a timeout kills the handler and anything it started
        die_with_parent()
        if os.getppid() != server_pid:  # the server died before the line above took effect
            os._exit(1)
        log_fd = out_fd if out_fd >= 0 else os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.closerange(3, 65536)  # the server's pipes are not the handler's
        sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
        sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # blocked by the server around the fork
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ.pop(SCRUB_ENV, None)  # the values the server's log pump scrubs: not the handler's business
        sys.argv = [sys.argv[0], request["run_dir"]]  # as `python expkit_plan_runtime.py RUN_DIR` would see it
        import faulthandler

        faulthandler.enable()  # a segfault leaves the Python stack in stdout.log
        # so does a timeout: the runner sends SIGUSR1; the stack is written, then the signal's default action
        # (chain) ends the unit, so the runner knows the stack is complete when it hears the unit ended
        faulthandler.register(signal.SIGUSR1, all_threads=True, chain=True)
        code = run_job(request["run_dir"])
    except BaseException:  # noqa: BLE001
        try:
            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(code)


def serve(runner_pid: int) -> int:
    """Fork one isolated child per request; report {"started": pid} and then {"pid", "status"} (os.waitpid's).

    When the runner dies, the server gets SIGTERM and kills the running unit's whole process group (the handler
    and whatever it started, e.g. data loader workers) before it exits."""
    current = []  # the running unit's pid (= its process group)

    def runner_gone(_sig, _frame):
        for pid in current:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        os._exit(1)

    signal.signal(signal.SIGTERM, runner_gone)
    die_with_parent(signal.SIGTERM)
    if runner_pid and os.getppid() != runner_pid:  # the runner died before the line above took effect
        return 1
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the runner's to handle: it stops the unit
    import importlib.util

    for name in ("faulthandler", "random"):  # what every unit imports: imported once, here
        importlib.import_module(name)

    _send({"ready": True, "python": sys.executable, "version": platform.python_version(), "pid": os.getpid(),
           "prefix": sys.prefix, "wandb": importlib.util.find_spec("wandb") is not None})
    me = os.getpid()
    pumps = None
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        # the secret values expkit masked for this run: the unit's fds 1 and 2 (the handler, and every process it
        # starts) go through the log pump, which writes stdout.log with them replaced by ***
        secrets: List[bytes] = []
        if request["env"].get(SCRUB_ENV):
            pumps = pumps or _logpump()
            secrets = pumps.secrets_from(request["env"][SCRUB_ENV])
        out_fd = pump = -1
        if secrets:
            log_fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            out_fd, pump = pumps.start(log_fd, secrets, close=(0, 1))  # not the runner's pipes
            os.close(log_fd)
        # the runner's death (SIGTERM) waits until the new unit is in `current`, so it never outlives the server
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        pid = os.fork()
        if pid == 0:
            _child(request, me, out_fd)
        if out_fd >= 0:
            os.close(out_fd)  # the unit holds the pipe now: the pump ends when it (and what it started) is gone
        current.append(pid)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        _send({"started": pid})
        _, status = os.waitpid(pid, 0)
        current.clear()
        try:
            os.killpg(pid, signal.SIGKILL)  # anything the handler left running in its group
        except (ProcessLookupError, PermissionError):
            pass
        if pump > 0:
            pumps.result(pump)  # the log is complete before the runner hears the unit ended
        _send({"pid": pid, "status": status})
    return 0  # the runner closed our stdin: its run is over


def main(argv: List[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if sys.version_info < MIN_PYTHON:
        sys.stderr.write(f"expkit: handlers need Python {'.'.join(map(str, MIN_PYTHON))} or newer; "
                         f"{sys.executable} is {platform.python_version()}\n")
        return 3
    if args[:1] == ["--serve"]:
        return serve(int(args[1]) if len(args) > 1 else 0)
    run_dir = args[0] if args else os.environ.get("EXPKIT_RUN_DIR")
    if not run_dir:
        sys.stderr.write("usage: python expkit_plan_runtime.py RUN_DIR (or set EXPKIT_RUN_DIR)\n")
        return 2
    return run_job(run_dir)


if __name__ == "__main__":
    sys.exit(main())
