"""Launch a command as a run: validate, create the run dir, record the manifest, start it detached.

The manifest is complete before the command starts. The command runs under a supervisor in its own
session, so it survives the launching shell, an SSH drop and Claude Code exiting.
"""

from __future__ import annotations

import json
import os
import random
import re
import shlex
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import expkit
from expkit.backends.local import start_supervisor
from expkit.errors import ExpkitError, Failure
from expkit.fsutil import atomic_write_bytes, atomic_write_json
from expkit.hardware.gpus import is_auto, resolve_auto
from expkit.paths import plain_name
from expkit.redact import SCRUB_ENV, Redactor, is_secret_name, secret_values
from expkit.runs import gitstate, interpreter, manifest as mf, process
from expkit.runs.outputs import fixed_output_warnings
from expkit.runs.store import MANIFEST, Run, default_runs_dir
from expkit.timeutil import now_iso, stamp

MIN_FREE_BYTES = 50 * 1024 * 1024
MAX_SEED = 2**32 - 1  # numpy's and most frameworks' seed range
MAX_GPU_INDEX = 255
_LAUNCHERS = {"python", "python3", "torchrun", "accelerate", "deepspeed", "bash", "sh", "uv", "uvx", "conda",
              "mamba", "micromamba", "poetry", "pipenv", "srun", "mpirun", "nohup", "env", "time", "run", "launch",
              "exec", "-m"}


@dataclass
class LaunchRequest:
    argv: list[str]
    name: str | None = None
    gpus: str | None = None  # "0,1" | "none" | "auto" | "auto:N" | None (inherit)
    seed: int | None = None
    config: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    runs_dir: Path | None = None
    wandb_project: str | None = None
    cwd: Path | None = None
    group: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # merged into the manifest (reproduces, sweep, plan ...)
    backend: str = "local"  # local | slurm | modal (expkit.backends)
    backend_options: dict[str, Any] = field(default_factory=dict)  # partition, account, time, cpus, mem ...


@dataclass
class LaunchResult:
    run: Run
    pid: int | None
    state: str
    reason: str | None
    warnings: list[str]
    backend: str = "local"
    job_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run.id, "run_dir": str(self.run.path), "pid": self.pid, "state": self.state,
                "backend": self.backend, "job_id": self.job_id,
                "reason": self.reason, "log": str(self.run.log_path), "warnings": self.warnings,
                "next": {"logs": f"expkit runs logs {self.run.id} --follow", "stop": f"expkit runs stop {self.run.id}",
                         "show": f"expkit runs show {self.run.id}"}}


def default_name(argv: list[str]) -> str:
    """`python train.py` -> train; `torchrun --nproc 2 src/train.py` -> train; `python -m pkg.cli` -> cli."""
    for i, arg in enumerate(argv):
        if arg == "-m" and i + 1 < len(argv):
            return _clean(argv[i + 1].rsplit(".", 1)[-1])
        if arg.endswith((".py", ".sh")) and not arg.startswith("-"):
            return _clean(Path(arg).stem)
    for arg in argv:
        base = os.path.basename(arg)
        if base and not arg.startswith("-") and "=" not in arg and not re.match(r"python[\d.]*$", base) \
                and base not in _LAUNCHERS:
            return _clean(base)
    return "run"


def _clean(text: str) -> str:
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return text[:40] or "run"


def parse_env_pairs(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise ExpkitError(f"--env expects KEY=VALUE, got '{pair}'", "write it as --env OMP_NUM_THREADS=4")
        env[key] = value
    return env


def parse_gpus(gpus: str | None) -> str | None:
    """'0,1' -> '0,1'; 'none' / '' -> '' (no GPU); None -> None (inherit)."""
    if gpus is None:
        return None
    text = gpus.strip().lower()
    hint = ("list GPU indices separated by commas (see `expkit gpus`), auto:N for N free GPUs, "
            "or --gpus none for CPU")
    if text in ("none", "cpu"):
        return ""
    if not text:
        raise ExpkitError("--gpus is empty", hint)
    items = [g.strip() for g in text.split(",")]
    if not all(re.match(r"^\d+$", g) or re.match(r"^gpu-[0-9a-f-]+$", g) for g in items):
        raise ExpkitError(f"--gpus expects indices like 0,1, auto, auto:N or 'none', got '{gpus}'", hint)
    if len(set(items)) != len(items):
        raise ExpkitError(f"--gpus lists a GPU twice: '{gpus}'", hint)
    too_big = [g for g in items if g.isdigit() and int(g) > MAX_GPU_INDEX]
    if too_big:
        raise ExpkitError(f"--gpus {gpus}: no machine has a GPU with index {too_big[0]}", hint)
    return ",".join(g.strip() for g in gpus.strip().split(","))


def check_gpus_exist(gpus: str | None) -> None:
    """Indices beyond the GPUs this machine shows are refused (when the driver can tell)."""
    text = parse_gpus(gpus)
    if not text:
        return
    from expkit.hardware.gpus import driver_present, list_gpus

    if not driver_present():
        return  # nothing to check against (a CPU machine passes --gpus through to CUDA_VISIBLE_DEVICES)
    listed = list_gpus()
    if not listed.get("devices") and listed.get("reason"):
        return
    indices = {str(d.get("index")) for d in listed["devices"]}
    missing = [g for g in text.split(",") if g.isdigit() and g not in indices]
    if missing:
        raise ExpkitError(f"--gpus {gpus}: this machine has no GPU {missing[0]} (it has {len(indices)}: "
                          f"{', '.join(sorted(indices, key=int)) or 'none'})",
                          "see `expkit gpus` for the indices, or use --gpus auto")


def _indices(gpus: str | None) -> list[int] | None:
    """The GPU indices a --gpus value selects ([] for none), or None to inherit / for UUIDs."""
    text = parse_gpus(gpus)
    if text is None or not all(g.isdigit() for g in text.split(",") if g):
        return None
    return [int(g) for g in text.split(",") if g]


def check_runs_dir(runs_dir: Path) -> None:
    """A clear error before anything starts when the runs dir cannot take a run."""
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExpkitError(f"cannot create the runs dir {runs_dir}: {exc.strerror}",
                          "pass a writable folder with --runs-dir or set EXPKIT_RUNS_DIR") from None
    if not os.access(runs_dir, os.W_OK | os.X_OK):
        raise ExpkitError(f"the runs dir {runs_dir} is not writable",
                          "fix its permissions, or pass a writable folder with --runs-dir")
    free = shutil.disk_usage(runs_dir).free
    if free < MIN_FREE_BYTES:
        raise ExpkitError(f"the runs dir {runs_dir} has only {free // (1024 * 1024)} MiB free",
                          "free some disk space, or pass --runs-dir on another disk")
    ignore = runs_dir / ".gitignore"
    if not ignore.exists():  # keep runs out of `git status`, so they never make the tree dirty
        try:
            atomic_write_bytes(ignore, b"# written by expkit: runs are not source code\n*\n")
        except OSError as exc:
            raise ExpkitError(f"cannot write in the runs dir {runs_dir}: {exc.strerror}",
                              "free some disk space or fix permissions, or pass --runs-dir") from None


def create_run_dir(runs_dir: Path, name: str) -> Path:
    """runs/<name>_<YYYYmmdd-HHMMSS>, made unique with -2, -3 ... when launches collide in one second."""
    base = f"{name}_{stamp()}"
    for n in range(1, 1000):
        path = runs_dir / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise ExpkitError(f"could not create a unique run dir for {base}", "retry in a second")


def build_env(req: LaunchRequest, seed: int, run_dir: Path, config_copy: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(req.env)
    gpus = parse_gpus(req.gpus) if req.backend == "local" else None  # elsewhere the scheduler picks devices
    if gpus is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpus
    env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"  # indices mean what nvidia-smi and `expkit gpus` show
    env["PYTHONHASHSEED"] = str(seed)
    env["EXPKIT_SEED"] = str(seed)
    env["EXPKIT_RUN_DIR"] = str(run_dir)
    env["EXPKIT_RUN_ID"] = run_dir.name
    env.setdefault("PYTHONUNBUFFERED", "1")  # logs appear as they are printed
    if config_copy:
        env["EXPKIT_CONFIG"] = str(run_dir / config_copy)
    if req.wandb_project:
        env["WANDB_PROJECT"] = req.wandb_project
        env["WANDB_NAME"] = run_dir.name
        env["WANDB_RUN_GROUP"] = req.group or run_dir.name.rsplit("_", 1)[0]
        env["WANDB_DIR"] = str(run_dir)
    elif req.group:
        env.setdefault("WANDB_RUN_GROUP", req.group)
    return env


def _offline_without_login(req: LaunchRequest, env: dict[str, str], cwd: Path) -> str | None:
    """A local W&B run with no credentials and no mode set would stop at wandb.init: log offline into the run
    dir instead (WANDB_MODE=offline in `env`) and say so. Returns the warning, or None when nothing changed."""
    if not req.wandb_project or req.backend != "local":
        return None
    from expkit.monitor.wandb_local import wandb_status

    st = wandb_status(env, cwd)
    if st["mode"] != "online" or st["logged_in"]:
        return None
    env["WANDB_MODE"] = "offline"
    return ("W&B has no credentials here: the run logs offline into its run dir (WANDB_MODE=offline); "
            "upload it later with `wandb sync` (see `expkit runs show`), or `wandb login` before launching")


def _load_config(path: Path) -> tuple[str, Any]:
    """(format, values) of a --config file; YAML through the shared strict loader (size limit, alias budget)."""
    from expkit.yamlfile import MAX_BYTES, load_yaml

    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml", load_yaml(path)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ExpkitError(f"the config {path} is {size / 2**20:.1f} MB, over the {MAX_BYTES >> 20} MB limit",
                          "--config records a config file; pass a small one (or none)")
    if suffix == ".json":
        return "json", json.loads(path.read_bytes().decode("utf-8"))
    return "text", None


def capture_context(argv: list[str], env: dict[str, str], cwd: Path, runs_dir: Path,
                    known_python: dict[str, Any] | None = None) -> dict[str, Any]:
    """The costly, shareable part of a manifest: code state, interpreter, host, GPUs.

    A sweep or a plan captures it once and passes it to prepare() for each of its runs. `known_python` (the
    "python" of an earlier capture of the same command, e.g. a loop's baseline) skips the interpreter probe
    when the command still resolves to the same interpreter.
    """
    from expkit.hardware.gpus import list_gpus

    resolved = interpreter.resolve(argv, env, cwd)
    reuse = bool(known_python and resolved["path"] and known_python.get("requested") == resolved["path"]
                 and not known_python.get("probe_error"))
    probe = interpreter.start_probe(resolved["path"], env, cwd) if resolved["path"] and not reuse else None
    git, patch = gitstate.capture(cwd, exclude=[runs_dir])  # overlaps the probe
    python = dict(known_python) if reuse else interpreter.finish_probe(probe, resolved)
    warnings: list[str] = []
    if git.get("is_repo"):
        if git.get("commit") is None:
            warnings.append("the repository has no commit yet: this run cannot be reproduced from git")
        if git.get("dirty"):
            warnings.append(
                f"uncommitted changes ({git['changed_files']} changed, {git['untracked_files']} untracked): "
                "saved to git.patch, but commit them for a run you can reproduce with certainty")
            warnings.extend(git.get("patch_notes", []))
    else:
        warnings.append("not inside a git repository: the code state of this run is not recorded")
    return {"git": git, "patch": patch, "python": python, "host": mf.host_info(), "gpus": list_gpus(),
            "warnings": warnings}


def plan_seed(req: LaunchRequest, cwd: Path):
    """The seed the run will really use (expkit.runs.seeds): a sweep trial's own seed parameter, a plan's seed
    (the plan runner applies it), or what the command and its entry point show; only `expkit launch` itself adds
    the seed to a command that takes one (a sweep's, queue's or plan's command is theirs to define)."""
    from expkit.runs import seeds

    generated = random.SystemRandom().randrange(0, 2**31 - 1)
    declared = None
    params = (req.extra.get("sweep") or {}).get("params") or {}
    name = next((k for k in params if k.split(".")[-1] in seeds.SEED_NAMES), None)
    if name is not None:
        declared = (params[name], f"'{name}'")
    elif "plan" in req.extra and req.seed is not None:
        declared = (req.seed, "plan seed (runner.seed)")
    apply = not any(k in req.extra for k in ("sweep", "queue", "plan"))
    sp = seeds.plan(req.argv, cwd, req.seed, generated, apply=apply, declared=declared)
    if declared is not None and name is None:
        sp.source, sp.how = "plan", "applied by the plan runner (runner.seed, every RNG seeded)"
    return sp


def prepare(req: LaunchRequest, context: dict[str, Any] | None = None, durable: bool = True,
            status: dict[str, Any] | None = None) -> tuple[Run, dict[str, str], list[str]]:
    """Validate, create the run dir and write manifest + status (queued). Returns (run, env, warnings).

    `context` (from capture_context) skips the capture when many runs share one code state. durable=False writes
    the files atomically without fsync: for a caller that fsyncs the manifest itself while the run starts (a plan).
    `status` updates the first status.json: a caller that starts the run itself records it as running under it.
    """
    if not req.argv:
        raise ExpkitError("no command to launch", "put the command after --: expkit launch -- python train.py")
    cwd = Path(req.cwd or os.getcwd()).resolve()
    runs_dir = (Path(req.runs_dir) if req.runs_dir else default_runs_dir(cwd)).resolve()
    requested_gpus = req.gpus
    if req.seed is not None and (isinstance(req.seed, bool) or not isinstance(req.seed, int)
                                 or not 0 <= req.seed <= MAX_SEED):
        raise ExpkitError(f"--seed {req.seed} is outside 0..{MAX_SEED}",
                          "seeds are unsigned 32-bit integers (numpy, torch and random all accept that range)")
    if req.backend == "local":
        if is_auto(req.gpus):  # auto / auto:N -> the lowest-index free GPUs, now
            req = replace(req, gpus=",".join(map(str, resolve_auto(req.gpus)[0])))
        else:
            check_gpus_exist(req.gpus)
        parse_gpus(req.gpus)
    config_fmt, config_values, config_data = None, None, b""
    if req.config is not None:
        from expkit.yamlfile import YamlError

        cfg = Path(req.config)
        if not cfg.is_absolute():
            cfg = cwd / cfg
        if not cfg.is_file():
            raise ExpkitError(f"config file not found: {req.config}", "pass an existing YAML or JSON file to --config")
        try:
            config_fmt, config_values = _load_config(cfg)
            config_data = cfg.read_bytes()  # read now: a file that cannot be read stops the launch before a run exists
        except YamlError as exc:
            where = f" (line {exc.line})" if exc.line else ""
            raise ExpkitError(f"cannot parse the config {req.config}{where}: {exc.problem}",
                              "fix the file, or rename it without .yaml/.json to record it as plain text"
                              if exc.line else exc.hint) from None
        except ExpkitError:
            raise  # names the file and the limit itself
        except OSError as exc:
            raise ExpkitError(f"cannot read the config {req.config}: {exc.strerror}",
                              "check the path and its permissions") from None
        except Exception as exc:
            raise ExpkitError(f"cannot parse the config {req.config}: {exc}",
                              "fix the file, or rename it without .yaml/.json to record it as plain text") from None
        req.config = cfg
    if req.name is not None and ("/" in req.name or "\\" in req.name or req.name.strip() in ("", ".", "..")):
        plain_name(req.name, "run name")  # a path is refused (not silently flattened): raises with a hint
    check_runs_dir(runs_dir)

    sp = plan_seed(req, cwd)
    req.argv, seed = sp.argv, sp.exported
    name = _clean(req.name) if req.name else default_name(req.argv)
    run_dir = create_run_dir(runs_dir, name)
    run = Run(run_dir)
    config_copy = f"config{req.config.suffix.lower() or '.txt'}" if req.config else None
    env = build_env(req, seed, run_dir, config_copy)
    # one redactor for this run: it learns every secret value it masks, and those values are then scrubbed
    # from the config copy, git.patch and (by the supervisor) stdout.log
    red = Redactor(secret_values(os.environ, req.env))
    offline = _offline_without_login(req, env, cwd)
    argv_shown = red.argv(req.argv)
    env_overrides = red.env(req.env, "--env")
    relevant = red.env(mf.relevant_env(env), "env")
    if config_values is not None:
        config_values = red.obj(config_values, "")

    ctx = context or capture_context(req.argv, env, cwd, runs_dir)
    git, patch, warnings = ctx["git"], ctx["patch"], list(ctx["warnings"]) + sp.warnings
    warnings += fixed_output_warnings(req.argv, cwd)
    if offline:
        warnings.append(offline)

    manifest: dict[str, Any] = {
        "schema": 1,
        "expkit_version": expkit.__version__,
        "run_id": run.id,
        "name": name,
        "group": req.group,
        "created_at": now_iso(),
        "command": {"argv": argv_shown, "cwd": str(cwd), "shell": shlex.join(argv_shown)},
        "backend": {"name": req.backend, **({"options": req.backend_options} if req.backend_options else {})},
        "seed": sp.manifest(),
        "config": None,
        "git": dict(git),
        "python": ctx["python"],
        "host": ctx["host"],
        "gpus": {"requested": requested_gpus, "resolved": _indices(req.gpus) if req.backend == "local" else None,
                 "cuda_visible_devices": env.get("CUDA_VISIBLE_DEVICES"), **ctx["gpus"]},
        "env": relevant,
        "env_overrides": env_overrides,
        # names only: which secrets the run inherited, so `runs reproduce` can say which ones to supply
        "env_secrets": sorted(k for k in env if is_secret_name(k) and k not in req.env and not k.endswith("_SOCK")),
        "wandb": ({"project": req.wandb_project, "name": env["WANDB_NAME"], "group": env["WANDB_RUN_GROUP"],
                   "dir": env["WANDB_DIR"]} if req.wandb_project else None),
        "warnings": warnings,
    }
    if req.config is not None:
        data = config_data
        atomic_write_bytes(run_dir / config_copy, red.config_bytes(data))
        import hashlib

        manifest["config"] = {"source": str(req.config), "copy": config_copy, "format": config_fmt,
                              "sha256": hashlib.sha256(data).hexdigest(), "values": config_values}
    if patch:
        atomic_write_bytes(run_dir / "git.patch", red.patch_bytes(patch))
        manifest["git"]["patch"] = "git.patch"
    manifest.update(red.strings(req.extra))
    manifest["redacted"] = red.names  # what was masked, so `runs reproduce` can say what to supply
    manifest = red.scrub_obj(manifest)
    atomic_write_json(run_dir / MANIFEST, manifest, durable)
    if red.sorted_values():
        # handed to the log pump in the environment (never written): the supervisor's, the one a Slurm job script
        # starts, or the one in a Modal container, which scrubs these exact values from stdout.log
        env[SCRUB_ENV] = json.dumps(red.sorted_values())
    run.write_status({"run_id": run.id, "name": name, "group": req.group, "state": "queued",
                      "backend": req.backend, "created_at": manifest["created_at"],
                      "command": manifest["command"]["shell"], "creator": process.identity(os.getpid()),
                      **(status or {})}, durable=durable)
    return run, env, warnings


def launch(req: LaunchRequest) -> LaunchResult:
    req.backend = (req.backend or "local").lower()
    if req.backend != "local":
        return _launch_on_backend(req)
    run, env, warnings = prepare(req)
    cwd = Path(run.manifest()["command"]["cwd"])
    pid, reason = start_supervisor(run, req.argv, cwd, env)
    status = run.status()
    result = LaunchResult(run=run, pid=pid, state=status["state"], reason=reason or status.get("reason"),
                          warnings=warnings)
    if pid is None:
        if status["state"] == "queued":  # the supervisor never wrote anything
            raw = run.raw_status()
            raw.update(state="failed", reason=reason, ended_at=now_iso())
            run.write_status(raw)
            result.state = "failed"
        raise LaunchFailed(result)
    return result


def _launch_on_backend(req: LaunchRequest) -> LaunchResult:
    """Submit to Slurm / Modal: options and the backend are checked before any run dir exists."""
    from expkit import backends

    if req.gpus is not None and "gpus" not in req.backend_options:
        req.backend_options["gpus"] = req.gpus  # a count (slurm) or a GPU type (modal), not device indices
    be = backends.get(req.backend, **req.backend_options)
    be.check()
    req.backend_options = be.options()
    run, env, warnings = prepare(req)
    sub = be.submit(run, req.argv, Path(run.manifest()["command"]["cwd"]), env)
    return LaunchResult(run=run, pid=None, state=sub.state, reason=sub.reason, warnings=warnings,
                        backend=req.backend, job_id=sub.job_id)


def submit_requests(backend: str, requests: list[LaunchRequest], context: dict[str, Any] | None = None,
                    limit: int | None = None, **options: Any) -> list:
    """Prepare LaunchRequests for a backend (the code state captured once) and submit them together (one Slurm
    job array): the sweep path. Returns one backends.Submission per request."""
    from expkit import backends

    be = backends.get(backend, **options)
    be.check()
    items = []
    for req in requests:
        req.backend, req.backend_options = be.name, be.options()
        if context is None:
            cwd = Path(req.cwd or os.getcwd()).resolve()
            runs_dir = (Path(req.runs_dir) if req.runs_dir else default_runs_dir(cwd)).resolve()
            context = capture_context(req.argv, dict(os.environ), cwd, runs_dir)
        run, env, _ = prepare(req, context)
        items.append((run, list(req.argv), env))
    if not items:
        return []
    cwd = Path(items[0][0].manifest()["command"]["cwd"])
    return be.submit_array(items, cwd, limit=limit)


class LaunchFailed(Failure):
    def __init__(self, result: LaunchResult):
        argv0 = result.run.manifest().get("command", {}).get("argv", ["?"])[0]
        hint = (f"check that `{argv0}` is installed and on PATH (or give its full path); "
                f"the failed run is recorded as {result.run.id}")
        super().__init__(f"run {result.run.id} failed to start: {result.reason}", hint)
        self.result = result
