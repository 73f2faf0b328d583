"""The local scheduler: leases slots (a GPU by UUID, or a CPU slot) to jobs and keeps the state on disk.

It starts the next job the moment a slot frees: supervisors are its children, SIGCHLD writes to a wakeup pipe,
and the loop blocks in select() on that pipe (timeouts only for retries with backoff, runs adopted after a
restart, early termination checks, and GPUs busy with someone else's processes).

Failures are contained: a failed job is retried with exponential backoff (an out-of-memory failure once more,
optionally with a smaller batch size), and when the first N finished jobs all fail the same way the scheduler
starts nothing new. A scheduler killed with kill -9 loses nothing: the runs go on under their supervisors, and
the next scheduler adopts the live ones, records the finished ones and re-queues the lost ones.
"""

from __future__ import annotations

import errno
import os
import queue as queue_mod
import re
import select
import signal
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from expkit.analysis.metrics import MetricReader, best_of, run_metrics
from expkit.fsutil import atomic_write_json
from expkit.runs import process
from expkit.runs.control import tail_lines
from expkit.runs.launch import LaunchRequest
from expkit.runs.layout import STATUS
from expkit.runs.store import STOP_REQUEST, TERMINAL, Run
from expkit.sweeps.batch import Batch
from expkit.sweeps.gpus import Slot, gpu_inventory
from expkit.sweeps.local import LocalBackend, Prepared
from expkit.timeutil import now_iso

_OOM = re.compile(r"CUDA out of memory|OutOfMemoryError|out of memory|RESOURCE_EXHAUSTED|CUBLAS_STATUS_ALLOC_FAILED"
                  r"|MemoryError", re.I)
_ERRLINE = re.compile(r"(Error|Exception|error:|FAILED|Traceback)")
_VOLATILE = re.compile(r"0x[0-9a-f]+|\d+(\.\d+)?|'[^']*'|\"[^\"]*\"|/[\w./-]+", re.I)


@dataclass
class Policy:
    retries: int = 0
    backoff_s: float = 30.0
    oom: dict[str, Any] | None = None          # {param, factor}: shrink this parameter on the OOM retry
    same_failures: int = 3                     # stop when the first N finished jobs fail the same way (0: never)
    metric: str | None = None
    goal: str = "minimize"
    early_terminate: dict[str, Any] | None = None
    target: float | None = None                # W&B's metric.target: no new trial once one reaches it
    time_limit_s: float | None = None          # SIGTERM a run this long after it started (a loop trial's budget)
    kill_grace_s: float = 30.0                 # then SIGKILL what is left this long after the SIGTERM


@dataclass
class Running:
    job: dict[str, Any]
    run: Run
    slot: Slot | None
    sup_pid: int | None            # None when adopted from an earlier scheduler (not our child)
    reader: MetricReader | None = None
    early_stop: str | None = None
    killed_at: float | None = None
    checked: set = field(default_factory=set)  # hyperband brackets already judged
    deadline: float | None = None  # monotonic time of the time limit (Policy.time_limit_s)
    over_time: bool = False        # stopped because it reached the time limit


@dataclass
class Summary:
    counts: dict[str, int] = field(default_factory=dict)
    stopped_reason: str | None = None
    started: int = 0
    adopted: int = 0
    requeued: int = 0
    target_reached: bool = False


def failure_signature(run: Run, status: dict[str, Any]) -> str:
    """What a failure looks like with the volatile parts (numbers, paths, quoted names) removed."""
    lines = [l.strip() for l in tail_lines(run.log_path, 40) if l.strip()]
    err = next((l for l in reversed(lines) if _ERRLINE.search(l) and not l.startswith("Traceback")), None)
    code = status.get("exit_code") if status.get("exit_code") is not None else status.get("signal_name", "?")
    text = _VOLATILE.sub("#", err)[:200] if err else "no error line"
    return f"exit {code}: {text}"


def is_oom(run: Run) -> bool:
    return any(_OOM.search(l) for l in tail_lines(run.log_path, 60))


class Scheduler:
    def __init__(self, batch: Batch, slots: list[Slot], *, runs_dir, make_request: Callable[[dict, Slot], LaunchRequest],
                 context: dict[str, Any] | None = None, policy: Policy | None = None,
                 rebuild_argv: Callable[[dict], list[str]] | None = None,
                 next_job: Callable[[], dict | None] | None = None, echo: Callable[[str], None] | None = None,
                 poll_s: float = 0.5, gpu_recheck_s: float = 10.0, early_poll_s: float = 1.0,
                 inventory: Callable[[], list[dict]] = gpu_inventory, backend=None):
        self.batch, self.slots, self.runs_dir = batch, slots, runs_dir
        self.make_request, self.context = make_request, context
        self.policy = policy or Policy()
        self.rebuild_argv, self.next_job = rebuild_argv, next_job
        self.echo = echo or (lambda _msg: None)
        self.poll_s, self.gpu_recheck_s, self.early_poll_s = poll_s, gpu_recheck_s, early_poll_s
        self.inventory = inventory
        self.backend = backend or LocalBackend()
        self.prepared: dict[str, Prepared] = {}   # job id -> a CPU-slot run made ready while the slots were busy
        self.dirty: set[str] = set()                # job files to write once the freed slots are filled again
        self.reserved: set[str] = set()             # jobs the prepare thread is working on
        self._lock = threading.Lock()
        self._worker = None
        self._worker_q = None
        self._worker_error: BaseException | None = None
        self.jobs: dict[str, dict[str, Any]] = {}
        self.running: dict[str, Running] = {}
        self.by_pid: dict[int, str] = {}
        self.leased: dict[str, str] = {}
        self.ended: set[str] = set()
        self.outcomes: list[str] = []      # first finished attempts this session: "ok" or a failure signature
        self.stopped: str | None = None
        self.gpu_blocked_until = 0.0
        self._busy_told: set[str] = set()
        self.next_early = 0.0
        self.summary = Summary()
        self._rfd = self._wfd = None

    # the loop ---------------------------------------------------------------------------------------------------
    def run(self) -> Summary:
        self.batch.lock()
        old_handler = signal.signal(signal.SIGCHLD, lambda *_: None)
        self._rfd, self._wfd = os.pipe()
        os.set_blocking(self._wfd, False)
        os.set_blocking(self._rfd, False)
        old_fd = signal.set_wakeup_fd(self._wfd)
        try:
            self._recover()
            while True:
                self._reap()
                self._collect()
                if self.policy.early_terminate and self.running and time.monotonic() >= self.next_early:
                    self._early_terminate()
                if self.policy.time_limit_s is not None:
                    self._enforce_time_limit()
                if not self.stopped:
                    self._fill()
                self._flush()
                if not self.running and not self._more_to_start():
                    break
                if not self.stopped:
                    self._prepare_ahead()
                self._wait(self._timeout())
        finally:
            self._discard_prepared()  # runs made ready but never started are removed, their jobs stay pending
            self._flush()
            signal.set_wakeup_fd(old_fd)
            signal.signal(signal.SIGCHLD, old_handler)
            os.close(self._rfd)
            os.close(self._wfd)
            self.batch.unlock()
        self.summary.counts = _counts(self.jobs.values())
        self.summary.stopped_reason = self.stopped
        return self.summary

    def _wait(self, timeout: float | None) -> None:
        try:
            select.select([self._rfd], [], [], timeout)
        except InterruptedError:
            pass
        try:
            while os.read(self._rfd, 512):
                pass
        except BlockingIOError:
            pass

    def _timeout(self) -> float:
        now = time.monotonic()
        waits = [5.0]  # a safety net; every normal wake-up comes from SIGCHLD or a deadline below
        if any(r.sup_pid is None or r.killed_at for r in self.running.values()):
            waits.append(self.poll_s)
        if self.policy.early_terminate and self.running:
            waits.append(max(0.0, self.next_early - now))
        deadlines = [r.deadline for r in self.running.values() if r.deadline is not None and not r.killed_at]
        if deadlines:
            waits.append(max(0.0, min(deadlines) - now))
        retry = [j["retry_at_mono"] for j in self.jobs.values() if j["state"] == "pending" and j.get("retry_at_mono")]
        if retry:
            waits.append(max(0.0, min(retry) - now))
        if self.gpu_blocked_until > now:
            waits.append(self.gpu_blocked_until - now)
        return max(0.0, min(waits))

    def _more_to_start(self) -> bool:
        if self.stopped:
            return False
        if any(j["state"] == "pending" for j in self.jobs.values()):
            return True
        self._pick_up_new_jobs()
        return any(j["state"] == "pending" for j in self.jobs.values())

    def _pick_up_new_jobs(self) -> None:
        """Jobs added to the batch while it runs (`expkit queue add`)."""
        for job_id in self.batch.job_ids():
            if job_id not in self.jobs:
                job = self.batch.load_job(job_id)
                if job and job.get("argv"):
                    self.jobs[job_id] = job

    # starting ---------------------------------------------------------------------------------------------------
    def _ready(self, with_reserved: bool = False) -> list[dict[str, Any]]:
        """Pending jobs whose retry time has come, in order (with_reserved: also those being prepared)."""
        now = time.monotonic()
        with self._lock:
            if self._worker_error is not None:
                raise self._worker_error
            reserved = set() if with_reserved else set(self.reserved)
        return [j for j in self.jobs.values() if j["state"] == "pending" and j.get("retry_at_mono", 0) <= now
                and j["id"] not in reserved]

    def _fill(self) -> None:
        free = [s for s in self.slots if s.key not in self.leased]
        if not free:
            return
        ready = self._ready(with_reserved=True)
        if len(ready) < len(free):
            self._pick_up_new_jobs()
            ready = self._ready(with_reserved=True)
            while self.next_job is not None and len(ready) < len(free):
                job = self.next_job()
                if job is None:
                    break
                self.jobs[job["id"]] = job
                ready.append(job)
        if not ready:
            return
        busy = self._foreign_busy_gpus() if any(s.gpu_uuid for s in free) else set()
        for slot in free:
            if slot.gpu_uuid and slot.gpu_uuid in busy:
                continue
            if not ready:
                break
            with self._lock:
                being_prepared = ready[0]["id"] in self.reserved
            if being_prepared:
                break  # keep the order: the helper thread wakes the loop when this job's run is ready
            self._start(ready.pop(0), slot)

    def _foreign_busy_gpus(self) -> set[str]:
        """GPUs with a process on them that is not one of our runs (someone else's job, a notebook)."""
        inv = self.inventory()
        ours: set[int] = set()
        for r in self.running.values() if any(d["pids"] for d in inv) else ():
            st = r.run.raw_status()
            if st.get("pid"):
                ours.update(process.live_tree(st["pid"], st.get("pgid")))
            if r.sup_pid:
                ours.add(r.sup_pid)
        busy = {d["uuid"] for d in inv if any(p not in ours for p in d["pids"])}
        if busy:
            self.gpu_blocked_until = time.monotonic() + self.gpu_recheck_s
        for d in inv:
            if d["uuid"] in busy and d["uuid"] not in self._busy_told:
                self.echo(f"GPU {d['index']} is busy with processes expkit did not start "
                          f"(pid {', '.join(map(str, d['pids']))}): not using it until they end")
            elif d["uuid"] not in busy and d["uuid"] in self._busy_told:
                self.echo(f"GPU {d['index']} is free again")
        self._busy_told = busy
        return busy

    def _save(self, job: dict[str, Any]) -> None:
        self.dirty.add(job["id"])

    def _flush(self) -> None:
        for job_id in sorted(self.dirty):
            self.batch.save_job(self.jobs[job_id])
        self.dirty.clear()

    def _prepare(self, job: dict[str, Any], slot: Slot) -> Prepared:
        """Create the job's run (manifest, status queued) and record it in the job before anything starts."""
        p = self.backend.prepare(self.make_request(job, slot), self.context)
        job["attempts"].append({"run_id": p.run.id, "state": "prepared", "prepared_at": now_iso()})
        self.batch.save_job(job)
        return p

    def _prepare_ahead(self) -> None:
        """While the CPU slots are busy, a helper thread makes the next runs ready (manifest, status, job record:
        fsync-bound work), so a freed slot costs only a fork. GPU slots prepare at start: the lease decides the env."""
        cpu = [s for s in self.slots if s.gpu_uuid is None]
        if not cpu:
            return
        if self._worker is None:
            self._worker_q = queue_mod.Queue()
            self._worker = threading.Thread(target=self._prepare_worker, name="expkit-prepare", daemon=True)
            self._worker.start()
        for job in self._ready():
            if len(self.prepared) + len(self.reserved) >= len(cpu):
                break
            if job["id"] not in self.prepared and job["id"] not in self.reserved:
                self.reserved.add(job["id"])
                self._worker_q.put((job, cpu[0]))
        with self._lock:
            cold = [p for p in self.prepared.values() if p.standby is None]
        for p in cold:  # fork their supervisors now (from this thread), so a freed slot only writes to a pipe
            self.backend.warm(p)

    def _prepare_worker(self) -> None:
        while True:
            item = self._worker_q.get()
            if item is None:
                return
            job, slot = item
            try:
                p = self._prepare(job, slot)
                err = None
            except BaseException as exc:  # handed to the main thread, which raises it
                p, err = None, exc
            with self._lock:
                self.reserved.discard(job["id"])
                if p is not None:
                    self.prepared[job["id"]] = p
                if err is not None:
                    self._worker_error = err
            try:
                os.write(self._wfd, b"p")  # wake the loop: a prepared run may fill a free slot
            except OSError:
                pass

    def _stop_worker(self) -> None:
        if self._worker is not None:
            self._worker_q.put(None)
            self._worker.join()
            self._worker = None

    def _drop_unrecorded(self) -> None:
        """A scheduler killed between creating a run and recording it in its job file leaves a run no job knows,
        `queued` forever although it never started: such runs of this batch (found by their manifest) go."""
        key, id_key = {"sweep": ("sweep", "trial_id"), "queue": ("queue", "job_id")}.get(
            self.batch.meta().get("kind"), (None, None))
        if key is None or not self.runs_dir.is_dir():
            return
        known = {a.get("run_id") for job in self.jobs.values() for a in job["attempts"]}
        for path in self.runs_dir.iterdir():
            if path.name in known or not (path / STATUS).is_file():
                continue
            run = Run(path)
            if run.raw_status().get("state") != "queued":
                continue
            rec = run.manifest().get(key) or {}
            if rec.get("name") == self.batch.name and rec.get(id_key) in self.jobs:
                self.backend.discard(Prepared(run, [], Path("."), {}))

    def _discard_prepared(self) -> None:
        self._stop_worker()
        for job_id, p in self.prepared.items():
            job = self.jobs[job_id]
            if job["attempts"] and job["attempts"][-1].get("run_id") == p.run.id:
                job["attempts"].pop()
                self.batch.save_job(job)
            self.backend.discard(p)
        self.prepared.clear()

    def _start(self, job: dict[str, Any], slot: Slot) -> None:
        job.pop("retry_at_mono", None)
        job.pop("retry_at", None)
        with self._lock:
            p = self.prepared.pop(job["id"], None) if slot.gpu_uuid is None else None
        if p is None:
            p = self._prepare(job, slot)
        pid = self.backend.start(p)
        # the run's manifest and the job's prepared attempt are on disk already: a crash from here on is
        # recovered from the run's own status, so this update can wait until the free slots are filled
        job["attempts"][-1].update(state="running", slot=slot.key, gpu_uuid=slot.gpu_uuid, gpu_index=slot.gpu_index,
                                   started_at=now_iso())
        job["state"] = "running"
        self._save(job)
        self.running[job["id"]] = Running(job, p.run, slot, pid, self._reader(p.run), deadline=self._deadline(None))
        self.by_pid[pid] = job["id"]
        self.leased[slot.key] = job["id"]
        self.summary.started += 1
        where = f"GPU {slot.gpu_index}" if slot.gpu_uuid else "CPU"
        self.echo(f"started {job['id']} on {where} as {p.run.id}")

    def _reader(self, run: Run) -> MetricReader | None:
        return MetricReader(run.path) if self.policy.early_terminate else None

    # ending -----------------------------------------------------------------------------------------------------
    def _reap(self) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            if pid == 0:
                return
            job_id = self.by_pid.pop(pid, None)
            if job_id:
                self.ended.add(job_id)

    def _collect(self) -> None:
        check = set(self.ended)
        self.ended.clear()
        check.update(i for i, r in self.running.items() if r.sup_pid is None or r.killed_at)
        for job_id in check:
            r = self.running.get(job_id)
            if r is None:
                continue
            st = r.run.status()
            if r.killed_at and st["state"] == "running" and time.monotonic() - r.killed_at > self.policy.kill_grace_s:
                st = self._force_kill(r)
            if st["state"] in TERMINAL:
                self._finish(r, st)
            elif st["state"] == "queued" and r.sup_pid is not None and job_id not in self.by_pid.values():
                raw = r.run.raw_status()  # the supervisor died before it could start the command
                raw.update(state="failed", ended_at=now_iso(),
                           reason=f"the supervisor exited before starting the command (see {r.run.path}/supervisor.log)")
                r.run.write_status(raw)
                self._finish(r, r.run.status())
            elif r.sup_pid is not None and job_id not in self.by_pid.values():
                r.sup_pid = None  # the command outlived its supervisor: watch it by polling

    def _force_kill(self, r: Running) -> dict[str, Any]:
        st = r.run.raw_status()
        if st.get("pid"):
            process.signal_tree(st["pid"], st.get("pgid"), signal.SIGKILL)
        r.killed_at = time.monotonic()
        return r.run.status()

    def _release(self, r: Running) -> None:
        self.running.pop(r.job["id"], None)
        if r.slot is not None and self.leased.get(r.slot.key) == r.job["id"]:
            del self.leased[r.slot.key]

    def _finish(self, r: Running, st: dict[str, Any]) -> None:
        job, state = r.job, st["state"]
        self._release(r)
        att = job["attempts"][-1]
        att.update(state=state, ended_at=st.get("ended_at") or now_iso(), reason=st.get("reason"),
                   exit_code=st.get("exit_code"), signal=st.get("signal_name"))
        if r.over_time:
            att["over_time"] = True
        if self.policy.early_terminate and r.reader is not None:  # the full curve, for comparing later trials
            job["history"] = r.reader.refresh().get(self.policy.metric, [])
        if self.policy.metric and state in ("succeeded", "stopped"):
            entry = run_metrics(r.run.path).get(self.policy.metric)
            if entry:
                job["metric_value"] = entry["final"]
                job["metric_best"] = best_of(entry, self.policy.goal)
                self._check_target(job)
        if state == "succeeded":
            job["state"] = "succeeded"
            self._record_outcome("ok")
            self.echo(f"{job['id']} succeeded ({r.run.id})")
        elif state == "stopped":
            job["state"] = "early_stopped" if r.early_stop else "stopped"
            if r.early_stop:
                att["early_stop"] = r.early_stop
            self.echo(f"{job['id']} {job['state'].replace('_', ' ')}" + (f": {r.early_stop}" if r.early_stop else ""))
        elif state == "lost":
            job["state"] = "pending"  # the machine rebooted or both processes were killed: run it again
            att["requeued"] = True
            self.summary.requeued += 1
            self.echo(f"{job['id']} was lost ({st.get('reason')}): queued again")
        else:
            self._failed(job, r.run, st, att)
        self._save(job)

    def _failed(self, job: dict[str, Any], run: Run, st: dict[str, Any], att: dict[str, Any]) -> None:
        sig = failure_signature(run, st)
        att["signature"] = sig
        failures = sum(1 for a in job["attempts"] if a.get("state") == "failed" and not a.get("oom"))
        oom_retry = is_oom(run) and not job.get("oom_retried")
        if not oom_retry:  # an OOM retried with a smaller batch is not yet a verdict on the job
            self._record_outcome(sig)
        if oom_retry:
            att["oom"] = True
            job["oom_retried"] = True
            oom = self.policy.oom
            if oom and oom.get("param") in (job.get("params") or {}):
                name, old = oom["param"], job["params"][oom["param"]]
                new = max(1, int(old * oom.get("factor", 0.5))) if isinstance(old, int) else old * oom.get("factor", 0.5)
                job["params"][name] = new
                if self.rebuild_argv:
                    job["argv"] = self.rebuild_argv(job)
                self.echo(f"{job['id']} ran out of memory: retrying with {name}={new}")
            else:
                self.echo(f"{job['id']} ran out of memory: retrying once")
            job["state"] = "pending"
        elif failures <= self.policy.retries:
            delay = self.policy.backoff_s * (2 ** (failures - 1))
            job["state"] = "pending"
            job["retry_at_mono"] = time.monotonic() + delay
            job["retry_at"] = time.time() + delay
            self.echo(f"{job['id']} failed ({sig}); retry {failures}/{self.policy.retries} in {delay:g}s")
        else:
            job["state"] = "failed"
            self.echo(f"{job['id']} failed: {sig} (log: {run.log_path})")

    def _check_target(self, job: dict[str, Any]) -> None:
        target, best = self.policy.target, job.get("metric_best")
        if target is None or best is None or self.stopped:
            return
        if (best <= target) if self.policy.goal == "minimize" else (best >= target):
            self.summary.target_reached = True
            self.stopped = (f"{job['id']} reached the target {self.policy.metric} {target:g} ({best:g}): "
                            "nothing more was started")
            self.batch.update_meta(stopped_reason=self.stopped, stopped_at=now_iso())
            self.echo(f"stopping: {self.stopped}")

    def _record_outcome(self, outcome: str) -> None:
        n = self.policy.same_failures
        if not n or self.stopped or len(self.outcomes) >= n:
            return
        self.outcomes.append(outcome)
        if len(self.outcomes) == n and outcome != "ok" and len(set(self.outcomes)) == 1:
            self.stopped = f"the first {n} jobs failed the same way ({outcome}): nothing more was started"
            self.batch.update_meta(stopped_reason=self.stopped, stopped_at=now_iso())
            self.echo(f"stopping: {self.stopped}")

    # resume -----------------------------------------------------------------------------------------------------
    def _recover(self) -> None:
        """Read every job and trust each run's own status over the job file: adopt live runs, record ended ones,
        re-queue lost ones, and drop runs that were prepared but never started."""
        if self.batch.meta().get("stopped_reason"):
            self.batch.update_meta(stopped_reason=None)
        for job in self.batch.jobs():
            self.jobs[job["id"]] = job
            if job.get("retry_at"):
                job["retry_at_mono"] = time.monotonic() + max(0.0, job["retry_at"] - time.time())
            att = job["attempts"][-1] if job["attempts"] else None
            if att is None or att.get("state") not in ("prepared", "running"):
                if job["state"] == "running":  # no attempt recorded: nothing started
                    job["state"] = "pending"
                    self.batch.save_job(job)
                continue
            run = Run(self.runs_dir / att["run_id"])
            st = run.status() if run.path.exists() else {"state": "queued"}
            if (run.raw_status().get("state") if run.path.exists() else "queued") == "queued":
                # prepared, never started: the scheduler stopped in between (shown as failed, launcher died)
                self.backend.discard(Prepared(run, [], Path("."), {}))
                job["attempts"].pop()
                job["state"] = "pending"
                self.batch.save_job(job)
                continue
            job["state"] = "running"
            att["state"] = "running"
            slot = next((s for s in self.slots if s.key == att.get("slot") and s.key not in self.leased), None)
            if slot is None:
                slot = next((s for s in self.slots if s.key not in self.leased
                             and s.gpu_uuid == att.get("gpu_uuid")), None)
            r = Running(job, run, slot, None, self._reader(run), deadline=self._deadline(st.get("started_at")))
            r.over_time = bool(att.get("over_time"))
            self.running[job["id"]] = r
            if slot is not None:
                self.leased[slot.key] = job["id"]
            if st["state"] in TERMINAL:
                self._finish(r, st)
            else:
                self.summary.adopted += 1
                self.echo(f"adopted {job['id']}: its run {run.id} is still running")
        self._drop_unrecorded()
        self._flush()

    # early termination ------------------------------------------------------------------------------------------
    def _early_terminate(self) -> None:
        """Stop running trials whose metric trails the others at the same step (median rule or hyperband)."""
        self.next_early = time.monotonic() + self.early_poll_s
        et, name = self.policy.early_terminate, self.policy.metric
        sign = 1 if self.policy.goal == "minimize" else -1
        histories: dict[str, list[float]] = {}
        for job in self.jobs.values():
            if job["id"] in self.running:
                r = self.running[job["id"]]
                if r.reader is None:
                    r.reader = MetricReader(r.run.path)
                values = r.reader.refresh().get(name, [])
            else:
                values = job.get("history") or []
            if values:
                histories[job["id"]] = [sign * v for v in values]
        for job_id, r in list(self.running.items()):
            if r.early_stop or job_id not in histories:
                continue
            mine = histories[job_id]
            reason = _should_stop(et, job_id, mine, histories, r.checked)
            if reason:
                r.early_stop = reason
                self._stop(r)

    # time limit ---------------------------------------------------------------------------------------------------
    def _deadline(self, started_at: str | None) -> float | None:
        """The monotonic deadline of a run started now, or (adopted after a restart) at `started_at`."""
        limit = self.policy.time_limit_s
        if limit is None:
            return None
        if started_at is None:
            return time.monotonic() + limit
        from expkit.timeutil import parse_iso

        start = parse_iso(started_at)
        begun = start.timestamp() if start else time.time()
        return time.monotonic() + (begun + limit - time.time())

    def _enforce_time_limit(self) -> None:
        """SIGTERM runs past their time limit; _collect sends SIGKILL after the grace (Policy.kill_grace_s)."""
        now = time.monotonic()
        for r in self.running.values():
            if r.deadline is None or r.killed_at or now < r.deadline:
                continue
            r.over_time = True
            r.job["attempts"][-1]["over_time"] = True
            self._save(r.job)
            st = r.run.raw_status()
            atomic_write_json(r.run.path / STOP_REQUEST, {"requested_at": now_iso(), "grace_s": self.policy.kill_grace_s,
                                                          "reason": f"time limit of {self.policy.time_limit_s:g}s"})
            if st.get("pid"):
                process.signal_tree(st["pid"], st.get("pgid"), signal.SIGTERM)
            r.killed_at = now
            self.echo(f"{r.job['id']} reached its time limit of {self.policy.time_limit_s:g}s: SIGTERM, "
                      f"SIGKILL in {self.policy.kill_grace_s:g}s")

    def _stop(self, r: Running) -> None:
        st = r.run.raw_status()
        atomic_write_json(r.run.path / STOP_REQUEST, {"requested_at": now_iso(), "reason": r.early_stop})
        if st.get("pid"):
            process.signal_tree(st["pid"], st.get("pgid"), signal.SIGTERM)
        r.killed_at = time.monotonic()
        self.echo(f"early-stopping {r.job['id']}: {r.early_stop}")


def _should_stop(et: dict[str, Any], job_id: str, mine: list[float], histories: dict[str, list[float]],
                 checked: set) -> str | None:
    """Lower is better here (the caller flips maximised metrics)."""
    step = len(mine)
    if et["type"] == "median":
        if step < et.get("warmup", 1):
            return None
        best = min(mine)
        # the others' best up to the same step (a trial that ended sooner counts with its whole curve)
        others = [min(h[:step]) for k, h in histories.items() if k != job_id and h]
        if len(others) < et.get("min_trials", 3):
            return None
        med = statistics.median(others)
        return f"best {best:g} at step {step} is worse than the median {med:g} of {len(others)} others" \
            if best > med else None
    from expkit.sweeps.spec import hyperband_brackets

    eta = et.get("eta", 3)
    for b in hyperband_brackets(et):
        if b > step or b in checked:
            continue
        at_b = sorted(min(h[:b]) for h in histories.values() if len(h) >= b)
        if len(at_b) < eta:
            continue  # too few runs reached this bracket yet: judge it on a later check
        checked.add(b)
        keep = max(1, int(len(at_b) / eta))
        threshold = at_b[keep - 1]
        best = mine[b - 1] if et.get("strict") else min(mine[:b])  # strict: the value at the bracket, as W&B
        if best > threshold:
            return f"hyperband: best {best:g} at step {b} is outside the top 1/{eta:g} (threshold {threshold:g})"
    return None


def _counts(jobs) -> dict[str, int]:
    from expkit.sweeps.batch import counts

    return counts(list(jobs))
