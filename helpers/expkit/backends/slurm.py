"""The Slurm backend: a run becomes an sbatch job whose batch script is kept in the run dir.

    runs/<id>/slurm.sbatch        the batch script (#SBATCH lines + exports + the command); `sbatch` it by hand
                                  to resubmit the run exactly
    runs/<id>/stdout.log          --output of the job (append mode, so a requeued job keeps its first part)
    runs/<id>/slurm_events.jsonl  start / requeue / end (with the exit code) lines written by the script itself

A sweep becomes one job array (`--array=0-99%8`): each task execs the batch script of its own run dir, and
`--output=<runs>/.slurm-arrays/<array>/%a/stdout.log` reaches each run dir through a symlink per task.

Preemption and time limits: `--signal=B:USR1@90` makes Slurm send SIGUSR1 to the batch shell 90 s before the
end. The script passes it on to the command (which can save a checkpoint and exit), then requeues the job with
`scontrol requeue`; the command sees SLURM_RESTART_COUNT > 0 when it starts again and can resume.

Status is batched: one `squeue` for every job still known to the controller, one `sacct` for the rest when
accounting is on, else one `scontrol show job`; the exit code comes from the script's own end line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from expkit import logpump
from expkit.backends import Availability, Submission, SubmitRejected
from expkit.errors import ExpkitError
from expkit.fsutil import atomic_write_json
from expkit.redact import SCRUB_ENV, is_secret_name, redact_argv
from expkit.runs.layout import STOP_REQUEST, TERMINAL
from expkit.timeutil import now_iso, stamp

SCRIPT = "slurm.sbatch"
EVENTS = "slurm_events.jsonl"
ARRAYS = ".slurm-arrays"
SIGNAL_SECONDS = 90
_TIME = re.compile(r"^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}|\d+-\d+:\d{1,2}:\d{1,2})$")
_MEM = re.compile(r"^\d+[KMGT]?$", re.IGNORECASE)
_GPUS = re.compile(r"^([A-Za-z0-9_.-]+:)?\d+$")

QUEUED = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "STOPPED"}
RUNNING = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING", "SUSPENDED"}
FAILED_REASON = {
    "FAILED": "the job failed",
    "TIMEOUT": "hit its time limit (--time); it was not requeued",
    "OUT_OF_MEMORY": "ran out of memory: raise --mem",
    "NODE_FAIL": "its node failed",
    "BOOT_FAIL": "its node failed to boot",
    "DEADLINE": "missed its deadline",
    "PREEMPTED": "was preempted and not requeued",
    "SPECIAL_EXIT": "held after a special exit",
}


def map_state(job_state: str) -> str:
    """Slurm's JobState -> expkit's state."""
    job_state = job_state.split()[0].rstrip("+").upper() if job_state else ""
    if job_state in QUEUED:
        return "queued"
    if job_state in RUNNING:
        return "running"
    if job_state == "COMPLETED":
        return "succeeded"
    if job_state == "CANCELLED":
        return "stopped"
    return "failed"


RUN_DIR_VAR = re.compile(r"\$\{EXPKIT_RUN_DIR\}|\$EXPKIT_RUN_DIR(?![A-Za-z0-9_])")


def shell_join(argv: list[str], hidden: dict[int, str] | None = None) -> str:
    """shlex.join, except that `$EXPKIT_RUN_DIR` in an argument stays a variable the job's shell expands (the
    script exports it): `--save '$EXPKIT_RUN_DIR/model.pt'` writes into the run's own folder on the cluster too.
    `hidden` maps an argument's index to the shell variable that holds it (a secret the script must not contain)."""
    words = []
    for i, arg in enumerate(argv):
        if hidden and i in hidden:
            words.append(f'"${{{hidden[i]}}}"')
            continue
        parts = RUN_DIR_VAR.split(arg)
        if len(parts) == 1:
            words.append(shlex.quote(arg))
        else:
            words.append('"${EXPKIT_RUN_DIR}"'.join(shlex.quote(p) if p else "" for p in parts))
    return " ".join(words)


class SlurmBackend:
    name = "slurm"

    def __init__(self, partition: str | None = None, account: str | None = None, time: str | None = None,
                 gpus: str | int | None = None, cpus: int | None = None, mem: str | None = None,
                 nodes: int | None = None, requeue: bool = True, **unknown: Any):
        if unknown:
            raise ExpkitError(f"unknown Slurm option(s): {', '.join(sorted(unknown))}",
                              "valid ones: partition, account, time, gpus, cpus, mem, nodes, requeue")
        if time is not None and not (_TIME.match(str(time)) or str(time).upper() in ("UNLIMITED", "INFINITE")):
            raise ExpkitError(f"--time '{time}' is not a Slurm time limit",
                              "use minutes (90), HH:MM:SS (4:00:00) or D-HH:MM:SS (1-12:00:00)")
        if mem is not None and not _MEM.match(str(mem)):
            raise ExpkitError(f"--mem '{mem}' is not a Slurm memory size", "use a number with K/M/G/T, e.g. 32G")
        if gpus is not None and str(gpus).strip().lower() in ("none", ""):
            gpus = None
        if gpus is not None and not _GPUS.match(str(gpus)):
            raise ExpkitError(f"--gpus '{gpus}' is not a GPU count for Slurm",
                              "with --backend slurm, --gpus is how many GPUs per node (2) or type:count (a100:2)")
        for label, value in (("--cpus", cpus), ("--nodes", nodes)):
            if value is not None and (not str(value).isdigit() or int(value) < 1):
                raise ExpkitError(f"{label} '{value}' must be a whole number of at least 1", f"e.g. {label} 4")
        self.partition, self.account, self.time, self.mem = partition, account, time, mem
        self.gpus = str(gpus) if gpus is not None else None
        self.cpus = int(cpus) if cpus is not None else None
        self.nodes = int(nodes) if nodes is not None else None
        self.requeue = bool(requeue)

    def options(self) -> dict[str, Any]:
        opts = {"partition": self.partition, "account": self.account, "time": self.time, "gpus": self.gpus,
                "cpus": self.cpus, "mem": self.mem, "nodes": self.nodes}
        opts = {k: v for k, v in opts.items() if v is not None}
        if not self.requeue:
            opts["requeue"] = False
        return opts

    # -- availability ---------------------------------------------------------------------------------------

    def availability(self) -> Availability:
        import shutil

        if not shutil.which("sbatch"):
            return Availability("slurm", False, "sbatch is not on PATH",
                                "run on a Slurm login node, or install the client: apt-get install slurm-client "
                                "(plus a slurm.conf for your cluster)")
        conf = find_conf()
        if conf is None:
            return Availability("slurm", False, "Slurm commands are installed but no slurm.conf was found "
                                f"(SLURM_CONF unset; none of {', '.join(CONF_PATHS)})",
                                "set SLURM_CONF to your cluster's slurm.conf, or run on a login node of the cluster")
        ping = _run(["scontrol", "ping"], timeout=15)
        if ping.returncode != 0 or "UP" not in ping.stdout:
            msg = [line for line in (ping.stderr + ping.stdout).splitlines() if line.strip(" *")]
            return Availability("slurm", False, f"the Slurm controller does not answer: {msg[0] if msg else 'down'}",
                                "check SLURM_CONF / /etc/slurm/slurm.conf and that slurmctld is running")
        parts = _run(["sinfo", "-h", "-o", "%P"]).stdout.split()
        return Availability("slurm", True, "sbatch works; partitions: " + (", ".join(parts) or "none listed"))

    def check(self) -> None:
        a = self.availability()
        if not a.usable:
            raise ExpkitError(f"the Slurm backend cannot be used here: {a.detail}", a.hint)

    # -- submission -----------------------------------------------------------------------------------------

    def sbatch_lines(self, job_name: str, output: str) -> list[str]:
        lines = [f"--job-name={job_name}", f"--output={output}", "--open-mode=append"]
        if self.partition:
            lines.append(f"--partition={self.partition}")
        if self.account:
            lines.append(f"--account={self.account}")
        if self.time:
            lines.append(f"--time={self.time}")
        if self.nodes:
            lines.append(f"--nodes={self.nodes}")
        if self.cpus:
            lines.append(f"--cpus-per-task={self.cpus}")
        if self.mem:
            lines.append(f"--mem={self.mem}")
        if self.gpus:
            lines.append(f"--gres=gpu:{self.gpus}")
        if self.requeue:
            lines += [f"--signal=B:USR1@{SIGNAL_SECONDS}", "--requeue"]
        return ["#SBATCH " + line for line in lines]

    def batch_script(self, run, argv: list[str], cwd: Path, env: dict[str, str]) -> str:
        """The script of one run: resources, the run's own environment, the command, start/end records."""
        exports = [f"export {k}={shlex.quote(v)}" for k, v in sorted(run_env(env).items())]
        hidden = secret_args(run, argv)  # taken from sbatch's environment into variables the command does not inherit
        hidden_lines = [line for i, (var, _) in sorted(hidden.items())
                        for line in (f'_expkit_arg{i}="${{{var}:-}}"', f"unset {var}")]
        if hidden:
            hidden_lines.insert(0, "# Arguments holding a secret are not written here either: they come in "
                                   + ", ".join(var for var, _ in hidden.values())
                                   + " (export them to sbatch this script by hand).")
        requeue = [
            "_expkit_requeue() {",
            '    echo "expkit: SIGUSR1 from Slurm (time limit or preemption close): passing it to the command,'
            ' then requeueing job $SLURM_JOB_ID"',
            "    _expkit_event requeue",
            '    kill -USR1 "$child" 2>/dev/null',
            '    wait "$child"',
            '    [ -n "$_expkit_pump" ] && wait "$_expkit_pump"',
            '    scontrol requeue "$SLURM_JOB_ID"',
            "    exit 0",
            "}",
            "trap _expkit_requeue USR1",
        ] if self.requeue else []
        return "\n".join([
            "#!/bin/bash",
            *self.sbatch_lines(run.id, str(run.path / "stdout.log")),
            f"#SBATCH --chdir={cwd}",
            f"# expkit run {run.id}, as submitted. To run it again as a new run: expkit runs reproduce {run.id}",
            "# Secret variables (names with KEY, TOKEN, SECRET, PASSWORD) are not written here: sbatch passes them",
            "# from the submitting environment.",
            *exports,
            f"cd {shlex.quote(str(cwd))} || exit 1",
            '_expkit_job="$SLURM_JOB_ID"',
            '[ -n "$SLURM_ARRAY_JOB_ID" ] && _expkit_job="${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"',
            "_expkit_event() {",
            '    printf \'{"event": "%s", "time": "%s", "job_id": "%s", "node": "%s", "restart": %s%s}\\n\' \\',
            '        "$1" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$_expkit_job" "${SLURMD_NODENAME:-$(hostname -s)}" \\',
            '        "${SLURM_RESTART_COUNT:-0}" "$2" >> "$EXPKIT_RUN_DIR/' + EVENTS + '"',
            "}",
            *requeue,
            "_expkit_event start",
            *hidden_lines,
            *self.command_lines(shell_join(argv, {i: f"_expkit_arg{i}" for i in hidden})),
            'wait "$child"',
            "rc=$?",
            '[ -n "$_expkit_pump" ] && wait "$_expkit_pump"',
            '_expkit_event end ", \\"exit_code\\": $rc"',
            'exit "$rc"',
            "",
        ])

    @staticmethod
    def command_lines(command: str) -> list[str]:
        """Start the command in the background ($child is its pid). When the run has secrets (their values come in
        $EXPKIT_SCRUB_SECRETS from sbatch's environment, never written here), its output goes through expkit's log
        pump (a FIFO in a private temp dir), so stdout.log gets them as ***; the command does not see the list."""
        py, pump = shlex.quote(sys.executable), shlex.quote(str(Path(logpump.__file__).resolve()))
        return [
            '_expkit_scrub="${EXPKIT_SCRUB_SECRETS:-}"',
            "unset EXPKIT_SCRUB_SECRETS",
            '_expkit_pump=""',
            f'if [ -n "$_expkit_scrub" ] && [ -x {py} ] && _expkit_tmp="$(mktemp -d)" '
            '&& mkfifo -m 600 "$_expkit_tmp/out"; then',
            "    trap 'rm -rf \"$_expkit_tmp\"' EXIT",
            f'    EXPKIT_SCRUB_SECRETS="$_expkit_scrub" {py} -I {pump} < "$_expkit_tmp/out" &',
            "    _expkit_pump=$!",
            f'    {command} > "$_expkit_tmp/out" 2>&1 &',
            "else",
            f'    [ -n "$_expkit_scrub" ] && echo "expkit: {py} is not on this node: the log is not scrubbed of '
            'secret values" >&2',
            f"    {command} &",
            "fi",
            "child=$!",
            "unset _expkit_scrub",
        ]

    def _write_script(self, run, argv, cwd, env) -> Path:
        path = run.path / SCRIPT
        _replace(path, self.batch_script(run, argv, cwd, env))
        os.chmod(path, 0o755)
        return path

    def _sbatch(self, args: list[str], env: dict[str, str], runs: list) -> str:
        proc = _run(["sbatch", "--parsable", *args], env=env)
        if proc.returncode != 0:
            message = " ".join(line.removeprefix("sbatch: error: ").strip()
                               for line in (proc.stderr or proc.stdout).strip().splitlines()) or "no message"
            for run in runs:
                raw = run.raw_status()
                raw.update(state="failed", reason=f"sbatch rejected the job: {message}", ended_at=now_iso())
                run.write_status(raw)
            which = runs[0].id if len(runs) == 1 else f"{len(runs)} runs ({runs[0].id} ...)"
            raise SubmitRejected(f"sbatch rejected {which}: {message}", self._hint(message, runs[0]))
        return proc.stdout.strip().split(";")[0]

    def _hint(self, message: str, run) -> str:
        low = message.lower()
        where = f"; the script is kept in {run.path / SCRIPT}; the run is recorded as failed" if run else ""
        if "partition" in low:
            parts = _run(["sinfo", "-h", "-o", "%P"]).stdout.split()
            return f"partitions here: {', '.join(parts) or '(none listed)'} (see `sinfo -s`)" + where
        if "account" in low or "association" in low:
            return "list your accounts with `sacctmgr show assoc where user=$USER format=account`" + where
        if "gres" in low or "gpu" in low:
            return "this partition may have no GPUs: see `sinfo -o '%P %G'`, or drop --gpus" + where
        if "time" in low:
            return "ask for less time (--time), within the partition's limit (`sinfo -o '%P %l'`)" + where
        if "memory" in low or "mem" in low:
            return "ask for less memory (--mem) than the nodes have (`sinfo -o '%P %m'`)" + where
        return "fix the option Slurm names above and launch again" + where

    def preflight(self) -> None:
        """`sbatch --test-only` with these options: a bad partition, account or limit is refused before a plan or
        sweep records anything (SubmitRejected with Slurm's message and a hint)."""
        script = "\n".join(["#!/bin/bash", *self.sbatch_lines("expkit-preflight", os.devnull), "true", ""])
        proc = subprocess.run(["sbatch", "--test-only"], input=script, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            message = " ".join(line.removeprefix("sbatch: error: ").strip()
                               for line in (proc.stderr or proc.stdout).strip().splitlines()) or "no message"
            hint = self._hint(message, None).split("; the script")[0]
            raise SubmitRejected(f"sbatch rejected the options: {message}", hint + "; nothing was submitted")

    def submit(self, run, argv: list[str], cwd: Path, env: dict[str, str]) -> Submission:
        script = self._write_script(run, argv, cwd, env)
        job_id = self._sbatch([str(script)], _sbatch_env({**env, **dict(secret_args(run, argv).values())}), [run])
        self._record(run, job_id)
        return Submission(run.id, job_id, "queued")

    def submit_array(self, items, cwd: Path, limit: int | None = None) -> list[Submission]:
        """All items as one job array, at most `limit` tasks running at once."""
        if not items:
            return []
        if limit is not None and int(limit) < 1:
            raise ExpkitError(f"array concurrency limit {limit} must be at least 1", "e.g. limit=8 for --array=0-99%8")
        runs = [run for run, _, _ in items]
        first = runs[0]
        array_dir = first.path.parent / ARRAYS / f"{first.id.rsplit('_', 1)[0]}_{stamp()}-{os.getpid()}"
        array_dir.mkdir(parents=True, exist_ok=True)
        for i, (run, argv, env) in enumerate(items):
            self._write_script(run, argv, cwd, env)
            (array_dir / str(i)).symlink_to(run.path)
        spec = f"0-{len(items) - 1}" + (f"%{int(limit)}" if limit else "")
        name = (first.manifest().get("group") or first.id.rsplit("_", 1)[0])
        dirs = " ".join(shlex.quote(str(r.path)) for r in runs)
        text = "\n".join([
            "#!/bin/bash",
            *self.sbatch_lines(name, str(array_dir / "%a" / "stdout.log")),
            f"#SBATCH --array={spec}",
            f"#SBATCH --chdir={cwd}",
            f"# expkit job array of {len(items)} runs: task i runs the {SCRIPT} of run dir i",
            f"RUN_DIRS=({dirs})",
            f'exec /bin/bash "${{RUN_DIRS[$SLURM_ARRAY_TASK_ID]}}/{SCRIPT}"',
            "",
        ])
        script = array_dir / "array.sbatch"
        _replace(script, text)
        env, scrub = {}, set()
        for item_run, item_argv, item_env in items:
            env.update(item_env)
            env.update(secret_args(item_run, item_argv).values())
            scrub.update(json.loads(item_env.get(SCRUB_ENV) or "[]"))  # every task's secret values
        if scrub:
            env[SCRUB_ENV] = json.dumps(sorted(scrub, key=len, reverse=True))
        array_id = self._sbatch([str(script)], _sbatch_env(env), runs)
        subs = []
        for i, run in enumerate(runs):
            self._record(run, f"{array_id}_{i}", array={"job_id": array_id, "index": i, "size": len(runs),
                                                         "limit": limit, "script": str(script)})
            subs.append(Submission(run.id, f"{array_id}_{i}", "queued"))
        return subs

    def _record(self, run, job_id: str, array: dict | None = None) -> None:
        manifest = run.manifest()
        info = {"name": "slurm", "options": self.options(), "job_id": job_id, "script": SCRIPT,
                "partition": self.partition, "nodes": None}
        if array:
            info["array"] = array
        manifest["backend"] = info
        _replace(run.path / "manifest.json", json.dumps(manifest, indent=2, default=str) + "\n")
        raw = run.raw_status()
        raw.update(backend="slurm", state="queued", job_id=job_id, submitted_at=now_iso())
        _replace(run.path / "status.json", json.dumps(raw, indent=2) + "\n")

    # -- status ---------------------------------------------------------------------------------------------

    def status(self, runs: list) -> dict[str, dict[str, Any]]:
        """Live status of many runs with one squeue (+ one sacct or scontrol for jobs squeue has forgotten)."""
        by_job = {}
        out: dict[str, dict[str, Any]] = {}
        for run in runs:
            raw = run.raw_status()
            out[run.id] = raw
            if raw.get("job_id") and raw.get("state") in ("queued", "running"):
                by_job[raw["job_id"]] = run
        if not by_job:
            return out
        try:
            if find_conf() is None:
                raise SlurmUnreachable("no slurm.conf here (set SLURM_CONF)")
            rows = squeue(list(by_job))
            # gone from squeue, or just ended (squeue has no exit code): ask accounting, else the controller
            ended = [j for j in by_job if j not in rows or map_state(rows[j]["job_state"]) not in ("queued", "running")]
            if ended:
                found = sacct(ended)
                rest = [j for j in ended if j not in found]
                if rest:
                    found.update(scontrol_jobs(rest))
                rows.update(found)
        except SlurmUnreachable as exc:
            for job_id, run in by_job.items():
                out[run.id] = {**out[run.id], "note": f"cannot reach Slurm: {exc}"}
            return out
        for job_id, run in by_job.items():
            out[run.id] = self._merge(run, out[run.id], rows.get(job_id))
        return out

    def _merge(self, run, raw: dict[str, Any], row: dict[str, Any] | None) -> dict[str, Any]:
        """Combine what Slurm says with the script's own start/end lines; persist what changed."""
        events = read_events(run.path)
        start = next((e for e in reversed(events) if e.get("event") == "start"), None)
        after_start = events[events.index(start):] if start else []
        end = next((e for e in after_start if e.get("event") == "end"), None)
        st = dict(raw)
        st.pop("note", None)
        if row is None:
            if end is not None:
                st.update(_ended(end))
            elif (run.path / STOP_REQUEST).exists():  # a cancelled pending array task leaves no trace in Slurm
                st.update(state="stopped", ended_at=now_iso(), reason="stopped by request (scancel) before it started")
            else:
                st.update(state="lost", ended_at=now_iso(), reason=(
                    f"Slurm no longer knows job {raw.get('job_id')} and the job recorded no end "
                    "(cancelled before it started, or purged from the controller)"))
        else:
            state = map_state(row["job_state"])
            st.update(state=state, job_state=row["job_state"])
            if row.get("nodes"):
                st["nodes"] = row["nodes"]
            if row.get("partition"):
                st["partition"] = row["partition"]
            if state == "running":
                st["note"] = f"Slurm job {raw.get('job_id')} running on {row.get('nodes') or '?'}"
            if start and state != "queued":
                st["started_at"] = start["time"]
                st["restarts"] = start.get("restart", 0)
            elif row.get("start") and state != "queued":
                st["started_at"] = row["start"]
            if state == "queued":
                reason = row.get("reason")
                why = f" ({reason})" if reason and reason != "None" else ""
                st["note"] = f"Slurm job {raw.get('job_id')} pending{why}"
            elif state == "succeeded" or (state == "failed" and row["job_state"].startswith("FAILED")):
                if end is not None:
                    st.update(_ended(end))
                else:  # the script's end line is not visible (yet) on this machine: Slurm's word
                    code = row.get("exit_code")
                    if code is None and state == "succeeded":
                        code = 0  # COMPLETED means exit code 0
                    st.update(state="succeeded" if code == 0 else "failed", exit_code=code,
                              ended_at=row.get("end") or now_iso(),
                              reason=f"exited with code {code}" if code is not None else "Slurm: FAILED")
            elif state == "stopped":
                st.update(ended_at=row.get("end") or now_iso(),
                          reason="cancelled (scancel)" + ("" if start else " before it started"))
            elif state == "failed":
                st.update(ended_at=row.get("end") or now_iso(),
                          reason=f"Slurm: {row['job_state']}: {FAILED_REASON.get(row['job_state'], 'ended')}")
        if st.get("state") == "stopped" and (run.path / STOP_REQUEST).exists():
            st["reason"] = "stopped by request (scancel)"
        if _changed(raw, st):
            run.write_status(st)
            if st.get("nodes") or st.get("partition"):
                manifest = run.manifest()
                info = manifest.get("backend") or {}
                if info.get("nodes") != st.get("nodes") or info.get("partition") != st.get("partition"):
                    info.update(nodes=st.get("nodes") or info.get("nodes"),
                                partition=st.get("partition") or info.get("partition"))
                    manifest["backend"] = info
                    atomic_write_json(run.path / "manifest.json", manifest)
        return st

    def log_path(self, run) -> Path:
        return run.log_path

    def cancel(self, run, grace: float = 10.0) -> dict[str, Any]:
        """scancel the job (Slurm sends SIGTERM, then SIGKILL after its KillWait), then wait for it to end."""

        st = run.status()
        if st["state"] in TERMINAL:
            return {"run_id": run.id, "state": st["state"], "already_ended": True, "signals": []}
        atomic_write_json(run.path / STOP_REQUEST, {"requested_at": now_iso(), "via": "scancel"})
        proc = _run(["scancel", st["job_id"]])
        if proc.returncode != 0:
            raise ExpkitError(f"scancel {st['job_id']} failed: {(proc.stderr or proc.stdout).strip()}",
                              "check the job with `squeue -j " + st["job_id"] + "`")
        deadline = time.monotonic() + grace + 30
        while time.monotonic() < deadline:
            st = run.status()
            if st["state"] in TERMINAL:
                break
            time.sleep(0.5)
        return {"run_id": run.id, "state": st["state"], "already_ended": False, "signals": ["scancel"],
                "reason": st.get("reason"), "job_id": st.get("job_id")}


# -- helpers --------------------------------------------------------------------------------------------------


class SlurmUnreachable(Exception):
    pass


CONF_PATHS = ("/etc/slurm/slurm.conf", "/etc/slurm-llnl/slurm.conf", "/run/slurm/conf/slurm.conf")


def find_conf() -> str | None:
    """The slurm.conf clients will read. Without one, Slurm's commands look for a config server in DNS and
    can hang for a minute before failing, so expkit does not call them."""
    if os.environ.get("SLURM_CONF"):
        return os.environ["SLURM_CONF"]
    return next((p for p in CONF_PATHS if os.path.exists(p)), None)


def _run(args: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(args, capture_output=True, text=True, env=env, timeout=timeout)
    except FileNotFoundError:
        return subprocess.CompletedProcess(args, 127, "", f"{args[0]}: command not found")
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"{args[0]} did not answer within {timeout:g} s")


def _replace(path: Path, text: str) -> None:
    """Temp file + rename without fsync: readers never see half a file, and a 100-run array is not 300 fsyncs.
    The job carries the run id as its name (`squeue --name`), so a record lost in a power cut can be traced."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def secret_args(run, argv: list[str]) -> dict[int, tuple[str, str]]:
    """The arguments that hold a secret (`--api-key VALUE`, `--token=VALUE`, a URL password, a token shape), by
    index: (the variable that carries it in sbatch's environment, its value). The batch script names the variable,
    so the script in the run dir never holds the value; the names are unique per run, so a job array can carry
    the secrets of every task in its one environment."""
    tag = hashlib.sha1(run.id.encode()).hexdigest()[:8]
    return {i: (f"EXPKIT_ARG_{tag}_{i}", arg) for i, (arg, masked) in enumerate(zip(argv, redact_argv(argv)))
            if masked != arg}


def run_env(env: dict[str, str]) -> dict[str, str]:
    """What a run's environment adds to the submitting one, secrets left out (sbatch passes those)."""
    return {k: v for k, v in env.items() if os.environ.get(k) != v and not is_secret_name(k)}


def _sbatch_env(env: dict[str, str]) -> dict[str, str]:
    """sbatch's own environment: the run's (secrets included, never written to disk) minus SBATCH_* that
    would override the script's #SBATCH lines."""
    return {k: v for k, v in env.items() if not k.startswith(("SBATCH_", "SLURM_JOB", "SLURM_ARRAY"))}


def _slurm_time(text: str | None) -> str | None:
    """Slurm prints local times without a zone: 2026-11-22T01:44:47 -> ISO UTC."""
    if not text or text in ("N/A", "Unknown", "None"):
        return None
    try:
        local = datetime.fromisoformat(text).astimezone()
    except ValueError:
        return None
    return local.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _chunks(items: list[str], n: int = 400):
    for i in range(0, len(items), n):
        yield items[i:i + n]


def squeue(job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """One squeue call per 400 jobs: {job_id: {job_state, nodes, partition, reason, start, end}}."""
    rows: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(job_ids):
        proc = _run(["squeue", "-h", "--array", "-t", "all", "-j", ",".join(chunk), "-o", "%i|%T|%N|%P|%r|%S|%e"])
        if proc.returncode != 0:
            if "Invalid job id" in proc.stderr:
                continue  # none of them is known any more
            raise SlurmUnreachable((proc.stderr or proc.stdout).strip() or f"squeue exited {proc.returncode}")
        for line in proc.stdout.splitlines():
            parts = line.split("|")
            if len(parts) < 7:
                continue
            rows[parts[0]] = {"job_state": parts[1], "nodes": parts[2] or None, "partition": parts[3] or None,
                              "reason": parts[4], "start": _slurm_time(parts[5]), "end": _slurm_time(parts[6])}
    return rows


_ACCOUNTING: dict[str, bool] = {}


def sacct(job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Finished jobs from accounting; {} when accounting is off (remembered for this process)."""
    if _ACCOUNTING.get(os.environ.get("SLURM_CONF", "")) is False:
        return {}
    rows: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(job_ids):
        proc = _run(["sacct", "-X", "-n", "-P", "-j", ",".join(chunk),
                     "-o", "JobID,State,ExitCode,NodeList,Partition,Start,End"])
        if proc.returncode != 0:
            _ACCOUNTING[os.environ.get("SLURM_CONF", "")] = False
            return {}
        for line in proc.stdout.splitlines():
            parts = line.split("|")
            if len(parts) < 7:
                continue
            code = parts[2].split(":")[0]
            rows[parts[0]] = {"job_state": parts[1].split()[0], "exit_code": int(code) if code.isdigit() else None,
                              "nodes": parts[3] if parts[3] not in ("", "None assigned") else None,
                              "partition": parts[4] or None, "start": _slurm_time(parts[5]),
                              "end": _slurm_time(parts[6])}
    return rows


def scontrol_jobs(job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Jobs the controller still remembers (accounting off): one `scontrol -o show job` for all of them."""
    proc = _run(["scontrol", "-o", "show", "job"])
    if proc.returncode != 0:
        return {}
    wanted = set(job_ids)
    rows: dict[str, dict[str, Any]] = {}
    for line in proc.stdout.splitlines():
        fields = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
        jid = fields.get("JobId", "")
        if fields.get("ArrayJobId") and fields.get("ArrayTaskId", "").isdigit():
            jid = f"{fields['ArrayJobId']}_{fields['ArrayTaskId']}"
        if jid not in wanted:
            continue
        code = fields.get("ExitCode", "").split(":")[0]
        rows[jid] = {"job_state": fields.get("JobState", ""), "exit_code": int(code) if code.isdigit() else None,
                     "nodes": fields.get("NodeList") or None, "partition": fields.get("Partition") or None,
                     "reason": fields.get("Reason"), "start": _slurm_time(fields.get("StartTime")),
                     "end": _slurm_time(fields.get("EndTime"))}
    return rows


def read_events(run_dir: Path) -> list[dict[str, Any]]:
    try:
        text = (run_dir / EVENTS).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    events = []
    for line in text.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue  # a line cut short by a kill
    return events


def _ended(end: dict[str, Any]) -> dict[str, Any]:
    code = end.get("exit_code")
    fields: dict[str, Any] = {"ended_at": end.get("time"), "exit_code": code}
    if code == 0:
        return {**fields, "state": "succeeded", "reason": "exited with code 0"}
    if isinstance(code, int) and code > 128:
        import signal as _signal

        try:
            name = _signal.Signals(code - 128).name
        except ValueError:
            name = f"signal {code - 128}"
        return {**fields, "state": "failed", "exit_code": None, "signal": code - 128, "signal_name": name,
                "reason": f"killed by {name}"}
    return {**fields, "state": "failed", "reason": f"exited with code {code}"}


def _changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    keys = ("state", "nodes", "partition", "started_at", "ended_at", "exit_code", "job_state", "restarts")
    return any(old.get(k) != new.get(k) for k in keys)
