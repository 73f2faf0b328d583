"""Read a W&B run back from local disk: config and, per metric, latest/best/step/history.

Works on an offline run (nothing synced) and on the local files of an online run, without network or login.

    from expkit.monitor.wandb_local import find_wandb_runs, read_wandb_run
    runs = find_wandb_runs("runs/mnist_20261122-010203")  # [Path(".../wandb/offline-run-...")], newest last
    run = read_wandb_run(runs[-1])
    run["metrics"]["train/loss"]["latest"], run["metrics"]["train/loss"]["best"]

Records come from the run's `.wandb` transaction log via `wandb leet inspect --json` (wandb >= 0.31), the
format's own reader; a run without it (older wandb, synced copies) falls back to `files/config.yaml` and
`files/wandb-summary.json`, which give latest values but no history.
"""

from __future__ import annotations

import configparser
import json
import math
import netrc
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from expkit.errors import ExpkitError

# `wandb_status()` at the end answers "is W&B usable here?" from env, settings and netrc without importing wandb;
# `not_logged_in_warning()` turns its answer into what a user must do before running an injected script.

LOWER_IS_BETTER = ("loss", "error", "err", "perplexity", "ppl", "mse", "mae", "rmse", "wer", "cer")


def find_wandb_runs(path: str | os.PathLike) -> list[Path]:
    """W&B run dirs under `path` (a run dir, a project dir, a `wandb/` dir or one run dir), oldest first."""
    path = Path(path)
    if not path.exists():
        raise ExpkitError(f"no such directory: {path}", "give a run dir, a wandb dir or an offline-run-* dir")
    if _is_run_dir(path):
        return [path]
    candidates = []
    for wandb_dir in (path, path / "wandb", *path.glob("*/wandb")):
        if wandb_dir.is_dir():
            candidates.extend(p for p in wandb_dir.iterdir() if p.is_dir() and _is_run_dir(p))
    unique = {p.resolve(): p for p in candidates}
    return sorted(unique.values(), key=_started)


def _started(p: Path) -> tuple:
    """Sort key: the start stamp in `offline-run-20261122_014531-id` / `run-20261122_014531-id`."""
    mt = re.search(r"(\d{8}_\d{6})", p.name)
    return (mt.group(1) if mt else "", p.name)


def _is_run_dir(p: Path) -> bool:
    return p.name.startswith(("offline-run-", "run-")) and (any(p.glob("*.wandb")) or (p / "files").is_dir())


def _wandb_command(python: str | None = None) -> list[str] | None:
    """The `wandb` CLI: beside this interpreter, beside the project's (`python`, e.g. the run's manifest),
    on PATH, or as a module."""
    for interpreter in (sys.executable, python):
        exe = Path(interpreter).with_name("wandb") if interpreter else None
        if exe is not None and exe.exists():
            return [str(exe)]
    found = shutil.which("wandb")
    if found:
        return [found]
    import importlib.util

    return [sys.executable, "-m", "wandb"] if importlib.util.find_spec("wandb") else None


def _records(run_dir: Path, python: str | None = None) -> list[dict] | None:
    """Every record of the run's .wandb log as dicts, or None when the reader is not available."""
    log = next(iter(sorted(run_dir.glob("*.wandb"))), None)
    cmd = _wandb_command(python)
    if log is None or cmd is None:
        return None
    try:
        proc = subprocess.run([*cmd, "leet", "inspect", "--json", str(log)], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "WANDB_SILENT": "true"})
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    out = []
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def _plain_config(cfg: dict) -> dict:
    """Drop W&B's own keys and unwrap `{"value": v}` entries of config.yaml."""
    out = {}
    for k, v in cfg.items():
        if k.startswith("_") or k == "wandb_version":
            continue
        if isinstance(v, dict) and set(v) <= {"value", "desc"} and "value" in v:
            v = v["value"]
        out[k] = v
    return out


def lower_is_better(name: str) -> bool:
    leaf = name.rsplit("/", 1)[-1].lower()
    return any(t in leaf for t in LOWER_IS_BETTER)


def _metric_table(history: list[dict]) -> dict:
    metrics = {}
    for row in history:
        step = row.get("_step")
        for key, value in row.items():
            if key.startswith("_") or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if isinstance(value, float) and not math.isfinite(value):
                continue
            metrics.setdefault(key, []).append([step, value])
    out = {}
    for key, hist in metrics.items():
        low = lower_is_better(key)
        best = min(hist, key=lambda sv: sv[1]) if low else max(hist, key=lambda sv: sv[1])
        out[key] = {"latest": hist[-1][1], "step": hist[-1][0], "best": best[1], "best_step": best[0],
                    "goal": "min" if low else "max", "count": len(hist), "history": hist}
    return out


def read_wandb_run(path: str | os.PathLike, python: str | None = None) -> dict:
    """Config and metrics of one W&B run (a run dir, or anything holding runs: then the newest).

    `python`: the project's interpreter, whose `wandb` reads the log when expkit's own environment has none.

    Returns {"run_dir", "run_id", "project", "entity", "state", "exit_code", "config",
    "metrics": {name: {"latest", "step", "best", "best_step", "goal", "count", "history": [[step, value]]}},
    "source", "identity"} (identity: see run_identity). `state` is "finished", "failed", "running" (no exit record yet: live or killed), or "unknown"
    (read from files/ without a transaction log).
    """
    runs = find_wandb_runs(path)
    if not runs:
        raise ExpkitError(f"no W&B run under {path}",
                          "W&B writes runs to ./wandb (or $WANDB_DIR); run the script with WANDB_MODE=offline")
    run_dir = runs[-1]
    info = {"run_dir": str(run_dir), "run_id": run_dir.name.rsplit("-", 1)[-1], "project": None, "entity": None,
            "state": None, "exit_code": None, "config": {}, "metrics": {}, "source": None}
    records = _records(run_dir, python)
    if records is not None:
        info["source"] = "transaction log"
        history, summary, config = [], {}, {}
        for rec in records:
            kind = rec.get("type")
            body = rec.get(kind) or {}
            if kind == "run":
                info["project"] = body.get("project") or None
                info["entity"] = body.get("entity") or None
                info["run_id"] = body.get("run_id") or info["run_id"]
                config.update((body.get("config") or {}).get("update") or {})
            elif kind == "config":
                config.update(body.get("update") or {})
                for key in body.get("remove") or ():
                    config.pop(key, None)
            elif kind == "history":
                history.append(body.get("item") or {})
            elif kind == "summary":
                summary.update(body.get("update") or {})
            elif kind == "exit":
                info["exit_code"] = body.get("exit_code", 0)
        info["config"] = _plain_config(config)
        info["metrics"] = _metric_table(history)
        for key, value in summary.items():  # summary-only values (e.g. run.summary["best_acc"] = ...)
            if key not in info["metrics"] and not key.startswith("_") and isinstance(value, (int, float)) \
                    and not isinstance(value, bool):
                info["metrics"][key] = {"latest": value, "step": None, "best": value, "best_step": None,
                                        "goal": "min" if lower_is_better(key) else "max", "count": 0, "history": []}
    else:
        info["source"] = "files"
        info["config"] = _plain_config(_read_yaml(run_dir / "files" / "config.yaml"))
        try:
            summary = json.loads((run_dir / "files" / "wandb-summary.json").read_text())
        except (OSError, json.JSONDecodeError):
            summary = {}
        info["metrics"] = {k: {"latest": v, "step": summary.get("_step"), "best": None, "best_step": None,
                               "goal": "min" if lower_is_better(k) else "max", "count": 0, "history": []}
                           for k, v in summary.items()
                           if not k.startswith("_") and isinstance(v, (int, float)) and not isinstance(v, bool)}
    if info["source"] == "files":
        info["state"] = "unknown"  # the files say nothing about how the run ended
    elif info["exit_code"] is None:
        info["state"] = "running"
    else:
        info["state"] = "finished" if info["exit_code"] == 0 else "failed"
    info["identity"] = run_identity(run_dir, info)
    return info


def app_url(base_url: str | None = None) -> str:
    """The web app's address for an API host: api.wandb.ai -> https://wandb.ai; a W&B Server serves both."""
    base = (base_url or os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").rstrip("/")
    parsed = urlparse(base)
    if parsed.hostname == "api.wandb.ai":
        return "https://wandb.ai"
    return f"{parsed.scheme or 'https'}://{parsed.netloc}"


def run_identity(run_dir: str | os.PathLike, info: dict | None = None, log_text: str = "",
                 base_url: str | None = None) -> dict:
    """Who a W&B run is, and how to reach, upload or continue it.

    {"id", "mode": "offline"|"online", "dir", "project", "entity", "url" (online runs whose entity and project
    are known, or whose URL the run printed in `log_text`), "sync_command" (offline runs), "resume"
    (the wandb.init call that continues this run; an offline run must be synced first)}.
    """
    run_dir = Path(run_dir)
    info = info or {}
    rid = info.get("run_id") or run_dir.name.rsplit("-", 1)[-1]
    offline = run_dir.name.startswith("offline-run-")
    project, entity = info.get("project"), info.get("entity")
    url = None
    if not offline:
        printed = re.findall(r"https?://\S+?/runs/" + re.escape(rid) + r"\b", log_text or "")
        if printed:
            url = printed[-1]
        elif entity and project:
            url = f"{app_url(base_url)}/{entity}/{project}/runs/{rid}"
    args = ([f"project={json.dumps(project)}"] if project else []) \
        + ([f"entity={json.dumps(entity)}"] if entity else []) + [f"id={json.dumps(rid)}", 'resume="must"']
    return {"id": rid, "mode": "offline" if offline else "online", "dir": str(run_dir), "project": project,
            "entity": entity, "url": url,
            "sync_command": f"wandb sync {shlex.quote(str(run_dir))}" if offline else None,
            "resume": f"wandb.init({', '.join(args)})"}


def _read_yaml(path: Path) -> dict:
    from expkit.yamlfile import YamlError, load_yaml

    try:
        data = load_yaml(path)
    except (YamlError, ImportError):  # a missing or broken file: no config, not a crash
        return {}
    return data if isinstance(data, dict) else {}

# --- setup status ---------------------------------------------------------------------------------------


def _settings(env, cwd: Path) -> tuple[dict, str | None]:
    """Merged W&B settings files (global, then ./wandb/settings wins), and which file set the mode."""
    merged, mode_from = {}, None
    config_dir = Path(env.get("WANDB_CONFIG_DIR", Path.home() / ".config" / "wandb"))
    for path in (config_dir / "settings", cwd / "wandb" / "settings"):
        parser = configparser.ConfigParser()
        try:
            parser.read(path)
        except (configparser.Error, OSError):
            continue
        if parser.has_section("default"):
            items = dict(parser.items("default"))
            if "mode" in items:
                mode_from = str(path)
            merged.update(items)
    return merged, mode_from


def wandb_status(env=None, cwd: str | os.PathLike | None = None) -> dict:
    """Installed, logged in, mode: from `env` (default os.environ), the settings files and netrc."""
    from importlib import metadata, util

    env = os.environ if env is None else env
    installed = util.find_spec("wandb") is not None
    version = None
    if installed:
        try:
            version = metadata.version("wandb")
        except metadata.PackageNotFoundError:
            pass
    settings, mode_file = _settings(env, Path(cwd) if cwd else Path.cwd())
    base_url = env.get("WANDB_BASE_URL") or settings.get("base_url") or "https://api.wandb.ai"
    host = urlparse(base_url).hostname or "api.wandb.ai"
    credentials = None
    if env.get("WANDB_API_KEY"):
        credentials = "WANDB_API_KEY"
    else:
        netrc_path = Path(env.get("NETRC", Path.home() / ".netrc"))
        try:
            if netrc_path.exists() and netrc.netrc(str(netrc_path)).authenticators(host):
                credentials = str(netrc_path)
        except (netrc.NetrcParseError, OSError):
            pass
    env_mode = env.get("WANDB_MODE")
    if env.get("WANDB_DISABLED", "").lower() in ("true", "1", "yes"):
        mode, source = "disabled", "WANDB_DISABLED"
    elif env_mode:
        mode, source = env_mode, "WANDB_MODE"
    elif settings.get("mode"):
        mode, source = settings["mode"], mode_file
    else:
        mode, source = "online", "default"
    mode = {"dryrun": "offline", "run": "online"}.get(mode, mode)
    hints = []
    if not installed:
        hints.append("pip install wandb (in the environment the training script runs in)")
    if mode == "online" and not credentials:
        hints.append("not logged in: `wandb login`, or run offline with WANDB_MODE=offline and `wandb sync` later")
    return {"installed": installed, "version": version, "logged_in": credentials is not None,
            "credentials": credentials, "host": host, "mode": mode, "mode_source": source,
            "entity": env.get("WANDB_ENTITY") or settings.get("entity"),
            "project": env.get("WANDB_PROJECT") or settings.get("project"), "hints": hints}


def not_logged_in_warning(cwd: str | os.PathLike | None = None, env=None) -> str | None:
    """Why a script with `wandb.init` would stop when run directly here, and the fixes; None when it would not."""
    st = wandb_status(env, cwd)
    if st["mode"] != "online" or st["logged_in"]:
        return None
    return ("W&B has no credentials here (no WANDB_API_KEY, no `wandb login`) and is not in offline mode: "
            "run directly, the script stops at wandb.init (it asks for an API key, or fails without a terminal). "
            "Fix it with one of: WANDB_MODE=offline (log locally, `wandb sync` later), `wandb login`, or "
            "`expkit launch --wandb-project NAME -- python SCRIPT` (logs offline into the run dir when not logged in)")
