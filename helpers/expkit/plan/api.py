"""What a handler sees: ExperimentRunner (metrics, config, seed, logger, device) and ResultsWriter (artifacts).

A handler is `def handler(runner) -> {"finding": str, "metrics": dict, "artifacts": list}`.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from expkit.fsutil import atomic_write_bytes

METRICS_FILE = "metrics.jsonl"
RESULT_KEYS = ("finding", "metrics", "artifacts")


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


def wandb_wanted(env: dict[str, str] | os._Environ = os.environ) -> bool:
    """W&B is used when a project or offline/online mode is configured and wandb can be imported."""
    mode = env.get("WANDB_MODE", "").lower()
    if mode in ("disabled",) or env.get("EXPKIT_WANDB") == "0":
        return False
    if not (env.get("WANDB_PROJECT") or mode in ("offline", "online", "dryrun")):
        return False
    import importlib.util

    return importlib.util.find_spec("wandb") is not None


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
