"""The Modal backend: the run's command executes in a Modal container; results come back with `runs sync`.

For each run expkit builds a Modal App `expkit-<run id>` with one function:
    image    debian_slim(python of the run) + the project's dependency file (requirements.txt, else
             pyproject.toml) + the project folder at /root/project + the expkit package (for the function body)
    gpu      --gpus as Modal spells it (A100, H100:2, T4 ...); timeout from --time; cpu/memory from --cpus/--mem
    volume   `expkit-runs` (option `volume`) mounted at /results: the run writes stdout.log, remote_status.json
             and its artifacts to /results/<run id>/ (EXPKIT_RUN_DIR points there)
    secrets  by name (option `secrets`, e.g. ["wandb"] holding WANDB_API_KEY): never copied from this machine
The function body is `expkit.backends.modal_remote.execute` (standard library only). `submit` spawns it on a
detached app and records the FunctionCall id; `status` asks that call; `cancel` cancels it; `sync` copies
/results/<run id>/ back into the local run dir.

`modal` is an optional extra (pip install 'expkit[modal]'). What was verified only locally (no network where
this was built) is listed in references/backends.md.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from expkit.backends import Availability, Submission, SubmitRejected
from expkit.errors import ExpkitError
from expkit.fsutil import atomic_write_bytes, atomic_write_json
from expkit.redact import SCRUB_ENV
from expkit.timeutil import now_iso

VOLUME = "expkit-runs"
MOUNT = "/results"
REMOTE_CODE = "/root/project"
IGNORE = ["runs", ".git", ".venv", "venv", "wandb", "**/__pycache__", "**/*.pyc", ".slurm-arrays"]
NEVER_OVERWRITE = {"manifest.json", "status.json"}


def time_seconds(text: str | None) -> int | None:
    """Slurm-style limits (90 = minutes, 4:00:00, 1-12:00:00) -> seconds."""
    if text is None:
        return None
    m = re.match(r"^(?:(\d+)-)?(\d+)(?::(\d{1,2}))?(?::(\d{1,2}))?$", str(text).strip())
    if not m:
        raise ExpkitError(f"--time '{text}' is not a time limit", "use minutes (90), HH:MM:SS (4:00:00) or D-HH:MM:SS")
    days, a, b, c = (int(x) if x else None for x in m.groups())
    if b is None and c is None:
        secs = (a * 60) if days is None else a * 3600  # "90" = minutes; "1-12" = days-hours
    elif c is None:
        secs = a * 60 + b if days is None else a * 3600 + b * 60  # MM:SS or D-HH:MM
    else:
        secs = a * 3600 + b * 60 + c
    return secs + (days or 0) * 86400


def mem_mib(text: str | None) -> int | None:
    if text is None:
        return None
    m = re.match(r"^(\d+)([KMGT]?)$", str(text).strip(), re.IGNORECASE)
    if not m:
        raise ExpkitError(f"--mem '{text}' is not a memory size", "use a number with K/M/G/T, e.g. 32G")
    factor = {"": 1, "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}[m.group(2).upper()]
    return max(1, int(int(m.group(1)) * factor))


def credentials() -> str | None:
    """Where Modal credentials come from, or None: MODAL_TOKEN_ID/SECRET, else the Modal config file."""
    if os.environ.get("MODAL_TOKEN_ID") and os.environ.get("MODAL_TOKEN_SECRET"):
        return "MODAL_TOKEN_ID / MODAL_TOKEN_SECRET"
    path = Path(os.environ.get("MODAL_CONFIG_PATH") or Path.home() / ".modal.toml")
    try:
        if "token_id" in path.read_text():
            return str(path)
    except OSError:
        pass
    return None


def _modal():
    try:
        import modal
    except ImportError:
        raise ExpkitError("the modal package is not installed", "pip install 'expkit[modal]' (or pip install modal)") from None
    return modal


class ModalBackend:
    name = "modal"

    def __init__(self, gpus: str | None = None, time: str | None = None, cpus: int | None = None,
                 mem: str | None = None, volume: str = VOLUME, secrets: Iterable[str] = (), python: str | None = None,
                 **unknown: Any):
        if unknown:
            raise ExpkitError(f"unknown Modal option(s): {', '.join(sorted(unknown))}",
                              "valid ones: gpus, time, cpus, mem, volume, secrets, python")
        if gpus is not None and not re.match(r"^[A-Za-z0-9-]+(:\d+)?$", str(gpus)):
            raise ExpkitError(f"--gpus '{gpus}' is not a Modal GPU", "with --backend modal give a GPU type: T4, A10G, "
                              "A100, H100, or type:count like H100:2")
        self.gpus = str(gpus) if gpus is not None else None
        self.time = time
        self.timeout = time_seconds(time)
        self.cpus = int(cpus) if cpus is not None else None
        self.mem = mem
        self.memory = mem_mib(mem)
        self.volume = volume
        self.secrets = list(secrets)
        self.python = python

    def options(self) -> dict[str, Any]:
        opts = {"gpus": self.gpus, "time": self.time, "cpus": self.cpus, "mem": self.mem,
                "volume": self.volume if self.volume != VOLUME else None, "secrets": self.secrets or None,
                "python": self.python}
        return {k: v for k, v in opts.items() if v is not None}

    def availability(self) -> Availability:
        import importlib.util

        if importlib.util.find_spec("modal") is None:
            return Availability("modal", False, "the modal package is not installed",
                                "pip install 'expkit[modal]' (or pip install modal), then `modal token new`")
        source = credentials()
        if not source:
            return Availability("modal", False, "no Modal credentials (no MODAL_TOKEN_ID/MODAL_TOKEN_SECRET, "
                                "no token in ~/.modal.toml)", "run `modal token new`, or set MODAL_TOKEN_ID and "
                                "MODAL_TOKEN_SECRET")
        return Availability("modal", True, f"modal installed; credentials from {source}")

    def check(self) -> None:
        a = self.availability()
        if not a.usable:
            raise ExpkitError(f"the Modal backend cannot be used here: {a.detail}", a.hint)

    # -- the app --------------------------------------------------------------------------------------------

    def image_spec(self, cwd: Path, python_version: str | None = None) -> dict[str, Any]:
        """What the image is built from, as plain data (recorded in the manifest)."""
        version = self.python or python_version or f"{sys.version_info.major}.{sys.version_info.minor}"
        deps = None
        for name, kind in (("requirements.txt", "requirements"), ("pyproject.toml", "pyproject")):
            if (cwd / name).is_file():
                deps = {"kind": kind, "path": str(cwd / name)}
                break
        return {"base": "debian_slim", "python": ".".join(version.split(".")[:2]), "dependencies": deps,
                "code": {"local": str(cwd), "remote": REMOTE_CODE, "ignore": IGNORE}, "python_source": ["expkit"]}

    def build_image(self, spec: dict[str, Any]):
        modal = _modal()
        image = modal.Image.debian_slim(python_version=spec["python"])
        deps = spec["dependencies"]
        if deps and deps["kind"] == "requirements":
            image = image.pip_install_from_requirements(deps["path"])
        elif deps and deps["kind"] == "pyproject":
            image = image.pip_install_from_pyproject(deps["path"])
        image = image.add_local_dir(spec["code"]["local"], spec["code"]["remote"], ignore=spec["code"]["ignore"])
        return image.add_local_python_source(*spec["python_source"])

    def function_options(self) -> dict[str, Any]:
        modal = _modal()
        opts: dict[str, Any] = {"volumes": {MOUNT: modal.Volume.from_name(self.volume, create_if_missing=True)},
                                "secrets": [modal.Secret.from_name(name) for name in self.secrets],
                                "timeout": self.timeout or 24 * 3600}
        if self.gpus:
            opts["gpu"] = self.gpus
        if self.cpus:
            opts["cpu"] = float(self.cpus)
        if self.memory:
            opts["memory"] = self.memory
        return opts

    def call_spec(self, run, argv: list[str], env: dict[str, str]) -> dict[str, Any]:
        from expkit.backends.slurm import run_env

        argv = list(argv)
        if os.path.isabs(argv[0]) and os.path.basename(argv[0]).startswith("python"):
            argv[0] = "python"  # this machine's interpreter path means nothing in the container
        # paths on this machine mean nothing there: the run dir is on the Volume, the code at /root/project
        remote_env = {k: v for k, v in run_env(env).items() if k not in ("EXPKIT_RUN_DIR", "EXPKIT_CONFIG", "WANDB_DIR")}
        # the secret values expkit masked that travel in this call anyway (a flag, a URL password): the body scrubs
        # them from stdout.log, with the values of the container's own secret variables; no secret is sent only
        # to be scrubbed
        sent = list(argv) + list(remote_env.values())
        scrub = [v for v in json.loads(env.get(SCRUB_ENV) or "[]") if any(v in item for item in sent)]
        return {"run_id": run.id, "argv": argv, "cwd": REMOTE_CODE, "env": remote_env, "volume_mount": MOUNT,
                "scrub": scrub}

    def build_app(self, run, argv: list[str], cwd: Path, env: dict[str, str], call_extra: dict[str, Any] | None = None):
        """(app, function, call spec, image spec): everything Modal needs, built without touching the network.
        `call_extra` adds to the call spec (a plan sub-experiment: its job.json, expkit importable)."""
        from expkit.backends.modal_remote import execute

        modal = _modal()
        py = (run.manifest().get("python") or {}).get("version")
        ispec = self.image_spec(cwd, py)
        app = modal.App(f"expkit-{run.id}")
        fn = app.function(image=self.build_image(ispec), serialized=True, name="run", **self.function_options())(execute)
        return app, fn, {**self.call_spec(run, argv, env), **(call_extra or {})}, ispec

    # -- protocol -------------------------------------------------------------------------------------------

    def submit(self, run, argv: list[str], cwd: Path, env: dict[str, str],
               call_extra: dict[str, Any] | None = None) -> Submission:
        app, fn, spec, ispec = self.build_app(run, argv, cwd, env, call_extra)
        modal = _modal()
        try:
            call_id = self.spawn(app, fn, spec)
        except Exception as exc:  # Modal's own message (auth, quota, image build) is what the user needs
            raw = run.raw_status()
            raw.update(state="failed", reason=f"Modal refused the run: {exc}", ended_at=now_iso())
            run.write_status(raw)
            auth = isinstance(exc, getattr(modal.exception, "AuthError", ())) or "token" in str(exc).lower()
            raise SubmitRejected(f"Modal refused {run.id}: {type(exc).__name__}: {exc}",
                                 "run `modal token new` (or set MODAL_TOKEN_ID/MODAL_TOKEN_SECRET)" if auth else
                                 "check the image build log with `modal app logs " + app.name + "`") from None
        manifest = run.manifest()
        manifest["backend"] = {"name": "modal", "options": self.options(), "app": app.name,
                               "function_call_id": call_id, "volume": self.volume, "image": ispec}
        atomic_write_json(run.path / "manifest.json", manifest)
        raw = run.raw_status()
        raw.update(backend="modal", state="queued", job_id=call_id, submitted_at=now_iso())
        run.write_status(raw)
        return Submission(run.id, call_id, "queued")

    def spawn(self, app, fn, spec: dict[str, Any]) -> str:
        """Start the function on a detached app (it outlives this process); the FunctionCall id."""
        with app.run(detach=True):
            return fn.spawn(spec).object_id

    def submit_array(self, items, cwd: Path, limit: int | None = None) -> list[Submission]:
        """One detached app per run (Modal scales them; `limit` is not enforced on Modal's side)."""
        return [self.submit(run, argv, cwd, env) for run, argv, env in items]

    def status(self, runs: list) -> dict[str, dict[str, Any]]:
        out = {}
        for run in runs:
            raw = run.raw_status()
            out[run.id] = raw
            if not raw.get("job_id") or raw.get("state") not in ("queued", "running"):
                continue
            try:
                modal = _modal()
                result = modal.FunctionCall.from_id(raw["job_id"]).get(timeout=0)
            except TimeoutError:  # Python's own: not finished yet (Modal's TimeoutError subclasses are below)
                out[run.id] = {**raw, "state": "running", "note": "running on Modal: `expkit runs sync` fetches logs"}
                continue
            except BaseException as exc:  # Modal's InputCancellation derives from BaseException
                name = type(exc).__name__
                if name == "FunctionTimeoutError":
                    result = {"state": "failed", "ended_at": now_iso(), "reason": f"hit the Modal timeout ({self.time})"}
                elif name == "InputCancellation":
                    result = {"state": "stopped", "ended_at": now_iso(), "reason": "cancelled on Modal"}
                elif isinstance(exc, Exception):
                    out[run.id] = {**raw, "note": f"cannot ask Modal: {name}: {exc}"}
                    continue
                else:
                    raise
            st = {**raw, **{k: result[k] for k in ("state", "started_at", "ended_at", "exit_code", "reason")
                            if k in result}}
            run.write_status(st)
            out[run.id] = st
        return out

    def log_path(self, run) -> Path:
        return run.log_path

    def cancel(self, run, grace: float = 10.0) -> dict[str, Any]:
        from expkit.runs.layout import TERMINAL

        st = run.status()
        if st["state"] in TERMINAL:
            return {"run_id": run.id, "state": st["state"], "already_ended": True, "signals": []}
        _modal().FunctionCall.from_id(st["job_id"]).cancel()
        raw = run.raw_status()
        raw.update(state="stopped", ended_at=now_iso(), reason="stopped by request (Modal call cancelled)")
        run.write_status(raw)
        return {"run_id": run.id, "state": "stopped", "already_ended": False, "signals": ["modal cancel"]}

    def sync(self, run, keep: Iterable[str] = ()) -> dict[str, Any]:
        """Copy /results/<run id>/ from the Volume into the run dir (never over `keep` or the manifest/status)."""
        return sync_files(run, self.volume_files(run), keep)

    def volume_files(self, run) -> Iterable[tuple[str, Callable[[], bytes]]]:
        """(path relative to /results/<run id>/, reader) for each file the run left on the Volume."""
        vol = _modal().Volume.from_name(self.volume)
        for entry in vol.listdir(f"/{run.id}", recursive=True):
            if entry.type.name == "FILE":
                yield entry.path.lstrip("/")[len(run.id) + 1:], lambda p=entry.path: b"".join(vol.read_file(p))


def sync_files(run, files: Iterable[tuple[str, Callable[[], bytes]]], keep: Iterable[str] = ()) -> dict[str, Any]:
    """Write each (relative path, reader) into the run dir atomically; fold remote_status.json into status.json."""
    from expkit.backends.modal_remote import REMOTE_STATUS
    from expkit.fsutil import read_json

    copied = []
    root = run.path.resolve()
    skip = NEVER_OVERWRITE | set(keep)
    for rel, read in files:
        target = (root / rel).resolve()
        if rel in skip or root not in target.parents:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, read())
        copied.append(rel)
    remote = read_json(run.path / REMOTE_STATUS)
    raw = run.raw_status()
    if remote:
        raw.update({k: remote.get(k) for k in ("state", "started_at", "ended_at", "exit_code", "signal", "reason")
                    if k in remote})
        raw["synced_at"] = now_iso()
        run.write_status(raw)
    return {"run_id": run.id, "copied": sorted(copied), "state": raw.get("state")}


def local_dir_files(folder: Path) -> list[tuple[str, Callable[[], bytes]]]:
    """A folder laid out like the Volume's /<run id>/ (what `.local()` writes): the same shape as Volume files."""
    return [(str(p.relative_to(folder)), p.read_bytes) for p in sorted(folder.rglob("*")) if p.is_file()]
