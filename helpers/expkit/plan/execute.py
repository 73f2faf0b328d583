"""Run an experiment's sub-experiments, each isolated in its own process and recorded as an expkit run.

After every sub-experiment, results.yaml is rewritten atomically, so killing the runner loses nothing that
completed; `rerun_failed` then runs only what failed, was skipped or never ran.
The one place a sub-experiment is started is `start_sub_experiment`: a backend plugs in there.
"""

from __future__ import annotations

import difflib
import os
import queue
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from expkit.errors import ExpkitError
from expkit.fsutil import atomic_write_json, fsync_path, read_json
from expkit.plan import results as res
from expkit.plan.api import wandb_configured
from expkit.plan.handlers import source_for
from expkit.plan.interpreter import Interpreter, choose
from expkit.plan.local import LocalProcess, ProjectPython, runtime_argv, supervised_status
from expkit.plan.runtime.expkit_plan_runtime import JOB, RESULT, write_json_fast
from expkit.plan.schema import Experiment, Plan, SubExperiment
from expkit.plan.units import Outcome, SubJob, finish_status, in_flight, read_result, results_lock, unit_result
from expkit.plan.verdict import assess
from expkit.runs.store import MANIFEST, Run, default_runs_dir
from expkit.timeutil import now_iso

# Modal runs this in its image, where the expkit package is shipped (local and Slurm runs use runtime_argv)
WORKER_ARGV = [sys.executable, "-m", "expkit.plan.worker"]


class ClusterJob:
    """A sub-experiment as a Slurm job: the plan runtime in the project's Python on a compute node that shares this
    filesystem (the interpreter, the run dir, job.json and the project), followed through the run's status like any
    Slurm run."""

    name = "slurm"

    def __init__(self, job: SubJob, project: ProjectPython | None = None):
        from expkit.runs.control import RemoteJob

        self.remote = RemoteJob(self.name, job.run, job.argv, job.cwd, job.env, job.timeout, **job.backend_options)

    def kill(self) -> None:
        self.remote.kill()

    def wait(self) -> Outcome:
        st = self.remote.wait()
        state = "succeeded" if st.get("state") == "succeeded" else "failed"
        sig = st.get("signal")
        return Outcome(state, None if state == "succeeded" else (st.get("reason") or f"Slurm job {st.get('state')}"),
                       st.get("exit_code"), sig if isinstance(sig, int) else None)


def ModalJob(job: SubJob, project: ProjectPython | None = None):
    """A sub-experiment as a Modal function call (detached: `expkit plan sync` brings it back)."""
    from expkit.plan.remote import ModalSubmission

    return ModalSubmission(job)



def check_backend(backend: str, options: dict[str, Any]) -> None:
    """Before anything is recorded: the backend exists for plans, its options are valid, it answers here."""
    if backend == "local":
        if options:
            raise ExpkitError(f"--{'/--'.join(options)} only apply to --backend slurm or modal",
                              "add --backend slurm or --backend modal")
        return
    if backend not in BACKENDS:
        raise ExpkitError(f"unknown backend '{backend}'", f"use one of: {', '.join(BACKENDS)}")
    from expkit import backends

    backends.ready(backend, **options)  # a bad partition or account: refused before anything is recorded


def _local(job: SubJob, project: ProjectPython | None = None) -> LocalProcess:
    if project is None:
        raise ExpkitError("a local sub-experiment needs the project's interpreter", "pass project=ProjectPython(...)")
    return LocalProcess(job, project.server())


BACKENDS: dict[str, Callable[..., Any]] = {"local": _local, "slurm": ClusterJob, "modal": ModalJob}


def start_sub_experiment(job: SubJob, backend: str = "local", project: ProjectPython | None = None):
    """Start one sub-experiment; returns a handle with .wait() -> Outcome and .kill(). The backend hook.
    `project`: the interpreter the handlers run in (a local unit is forked by its unit server)."""
    if backend not in BACKENDS:
        raise ExpkitError(f"unknown backend '{backend}'", f"use one of: {', '.join(BACKENDS)}")
    return BACKENDS[backend](job, project)


@dataclass
class RunReport:
    experiment_id: str
    stub: bool
    results_path: Path
    doc: dict[str, Any]
    ran: list[dict[str, Any]] = field(default_factory=list)
    findings: Path | None = None
    rollup: Path | None = None
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. the plan's status line updated after the verdict

    @property
    def failed(self) -> bool:
        return self.doc.get("status") == "failed"

    @property
    def submitted(self) -> list[dict[str, Any]]:
        """Units handed to Modal and not brought back yet (`expkit plan sync`)."""
        return [{"sub": sub, "seed": r.get("seed"), "run_id": r.get("run_id")} for sub, r in in_flight(self.doc)]

    def to_json(self) -> dict[str, Any]:
        ex = self.doc.get("expkit", {})
        failed = {s: r.get("error") for s, r in self.doc["results"]["experiments"].items() if r["status"] == "failed"}
        return {"experiment_id": self.experiment_id, "stub": self.stub, "status": self.doc.get("status"),
                "recommendation": self.doc.get("recommendation"),
                "recommendation_notes": self.doc.get("recommendation_notes"), "counts": ex.get("counts"),
                "criteria": ex.get("criteria"), "failed": failed, "ran": self.ran,
                "rerun_command": rerun_command(self.experiment_id, self.stub) if failed else None,
                "submitted": self.submitted,
                "sync_command": (f"expkit plan sync {self.experiment_id}" + (" --stub" if self.stub else ""))
                if self.submitted else None,
                "results": str(self.results_path), "findings": str(self.findings) if self.findings else None,
                "rollup": str(self.rollup) if self.rollup else None, "warnings": self.warnings, "notes": self.notes}


def finish(plan: Plan, exp: Experiment, doc: dict[str, Any], path: Path, report: RunReport, *, stub: bool,
           runs_dir: Path | None, render: bool) -> None:
    """Every unit has ended: the final verdict, results.yaml, FINDINGS.md and the project rollup."""
    verdict = assess(exp, res.sub_outcomes(doc, exp), stub)
    res.apply_verdict(doc, exp, verdict, final=True)
    doc["completed_at"] = now_iso()
    res.save(path, doc)
    if not stub:
        from expkit.plan.planstatus import record

        note = record(plan, exp.id, verdict)
        if note:
            report.notes.append(note)
    if render:
        from expkit.report.findings import render_experiment, render_rollup

        report.findings = render_experiment(plan, exp.id, stub=stub, runs_dir=runs_dir, warnings=report.warnings)
        if not stub:
            report.rollup = render_rollup(plan)


def rerun_command(exp_id: str, stub: bool = False) -> str:
    return f"expkit plan run {exp_id} --rerun-failed" + (" --stub" if stub else "")


def unmet_dependencies(plan: Plan, exp: Experiment) -> list[str]:
    """Dependencies whose plan status does not pass a gate and that have no complete judged proceed."""
    from expkit.plan.judged import unmet_dependencies as unmet

    return unmet(plan, exp)


def select_subs(exp: Experiment, subs: list[str] | None) -> list[str]:
    if not subs:
        return exp.sub_ids
    unknown = [s for s in subs if s not in exp.sub_ids]
    if unknown:
        close = difflib.get_close_matches(unknown[0], exp.sub_ids, n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else f"sub-experiments of {exp.id}: {', '.join(exp.sub_ids)}"
        raise ExpkitError(f"{exp.id} has no sub-experiment '{unknown[0]}'", hint)
    return [s for s in exp.sub_ids if s in subs]


def probe_handlers(plan: Plan, exp: Experiment, runs_dir: Path | None = None,
                   project: ProjectPython | None = None,
                   python: str | Interpreter | None = None) -> dict[str, Any]:
    """Import the experiment's handler module in a throwaway process of the project's interpreter:
    {ok, handlers} or {ok, error}, plus the source and the interpreter ({path, chosen_by, version})."""
    import tempfile

    own = project is None
    if own:
        interp = choose(plan, exp, python)
        project = ProjectPython(interp.path, interp.how, plan.root)
    src = source_for(plan, exp)
    try:
        with tempfile.TemporaryDirectory(prefix="expkit-probe-") as tmp:
            run = Run(Path(tmp))
            atomic_write_json(run.path / JOB, {"probe": True, "sub_id": "", "source": src.to_json()})
            handle = start_sub_experiment(SubJob(run, runtime_argv(project.path), plan.root, dict(os.environ), 120),
                                          "local", project)
            outcome = handle.wait()
            result = read_json(run.path / RESULT) or {}
            if not result:
                tail = run.log_path.read_text(errors="replace")[-2000:] if run.log_path.exists() else ""
                result = {"ok": False, "error": {"type": "Crash", "message": outcome.reason or "no result",
                                                 "traceback": tail}}
        hello = project.server().hello
        result["python"] = {"path": project.path, "chosen_by": project.how, "version": hello.get("version"),
                            "wandb": bool(hello.get("wandb"))}
    finally:
        if own:
            project.close()
    result["source"] = src.to_json()
    return result


def run_experiment(plan: Plan, exp_id: str, *, subs: list[str] | None = None, stub: bool = False,
                   rerun_failed: bool = False, force: bool = False, runs_dir: Path | None = None,
                   backend: str = "local", backend_options: dict[str, Any] | None = None,
                   echo: Callable[[str], None] | None = None,
                   warn: Callable[[str], None] | None = None, render: bool = True,
                   python: str | Interpreter | None = None) -> RunReport:
    """Run (a subset of) an experiment's sub-experiments and record everything in results.yaml.

    Handlers run in the project's interpreter: `python` (--python, a path or an Interpreter), else as
    expkit.plan.interpreter chooses.

    On a cluster backend each sub-experiment is one job, run one after the other as locally (later ones may
    depend on earlier ones); the runner waits for each."""
    from expkit.runs.launch import check_runs_dir

    echo = echo or (lambda _msg: None)
    backend = (backend or "local").lower()
    backend_options = dict(backend_options or {})
    check_backend(backend, backend_options)
    exp = plan.get(exp_id)
    if backend == "modal":
        from expkit.plan.remote import check_shippable

        check_shippable(source_for(plan, exp).to_json(), plan.root)
    selected = select_subs(exp, subs)
    warnings: list[str] = []
    unmet = unmet_dependencies(plan, exp)
    if unmet and not force:
        from expkit.plan.judged import dependency_state

        why = "; ".join(f"{d}: {dependency_state(plan, d)['why']}" for d in unmet)
        raise ExpkitError(f"{exp_id} depends on {', '.join(unmet)}, which has not reached proceed/passed ({why})",
                          f"run {unmet[0]} first (expkit plan run {unmet[0]}), or pass --force to run anyway")
    if unmet:
        warnings.append(f"dependencies not met (run forced): {', '.join(unmet)}")
    if not exp.subs:
        raise ExpkitError(f"{exp_id} has no sub_experiments", "list them in the plan: sub_experiments: [e1_1, e1_2]")
    interp = choose(plan, exp, python)  # a bad --python or `python:` is refused before anything is written
    if interp.warning and backend != "modal":
        warnings.append(interp.warning)
    path = res.results_path(plan, exp_id, stub)
    runs_dir = Path(runs_dir) if runs_dir else default_runs_dir(plan.root)
    check_runs_dir(runs_dir)
    runs_dir = runs_dir.resolve()
    lock = results_lock(runs_dir / f".plan-{exp_id}{'-stub' if stub else ''}.lock", path)
    project = ProjectPython(interp.path, interp.how, plan.root)
    try:
        return _run_locked(plan, exp, path, runs_dir, selected=selected, unmet=unmet, warnings=warnings, stub=stub,
                           rerun_failed=rerun_failed, backend=backend, backend_options=backend_options, echo=echo,
                           warn=warn, render=render, project=project)
    finally:
        project.close()  # its unit server ends; it would die with this process anyway
        lock.close()  # the OS releases it too if this process is killed


def _run_locked(plan: Plan, exp: Experiment, path: Path, runs_dir: Path, *, selected: list[str], unmet: list[str],
                warnings: list[str], stub: bool, rerun_failed: bool, backend: str,
                backend_options: dict[str, Any], echo: Callable[[str], None],
                warn: Callable[[str], None] | None, render: bool, project: ProjectPython) -> RunReport:
    exp_id = exp.id
    doc = res.load(path)

    units = [(sub, seed) for sub in exp.subs if sub.id in selected for seed in exp.seeds]
    flying = {(sub, r.get("seed")) for sub, r in in_flight(doc)}
    if rerun_failed:
        done = res.succeeded_units(doc, exp) | flying
        units = [(sub, seed) for sub, seed in units if (sub.id, seed) not in done]
    elif any((sub.id, seed) in flying for sub, seed in units):
        raise ExpkitError(f"{len(flying)} sub-experiment run(s) of {exp_id} were submitted to Modal and not "
                          "brought back yet", f"run `expkit plan sync {exp_id}{' --stub' if stub else ''}` first "
                          "(or `--rerun-failed` to run only what failed or never ran)")

    if not units and doc:  # everything selected already succeeded: re-render, record nothing new
        report = RunReport(exp_id, stub, path, doc, warnings=warnings)
        if flying:  # the rest is still on Modal: judged by `expkit plan sync`
            return report
        if render:
            from expkit.report.findings import render_experiment, render_rollup

            report.findings = render_experiment(plan, exp_id, stub=stub)
            report.rollup = None if stub else render_rollup(plan)
        return report

    registered: list[str] | None = None
    import_error: dict[str, Any] | None = None
    if units and (backend == "local" or not stub):
        project.server()  # an interpreter that cannot run the plan runtime is refused before anything is recorded
    if units and not stub:
        probe = probe_handlers(plan, exp, runs_dir, project=project)
        if probe.get("ok"):
            registered = probe["handlers"]
        elif backend == "modal":  # the image may have what this machine lacks: let the container decide
            warnings.append(f"the handlers of {exp_id} cannot be imported here ({probe['error']['message']}); "
                            "submitting anyway: they are imported again in the Modal image")
        else:
            import_error = probe["error"]
            warnings.append(f"the handlers of {exp_id} cannot be imported: {import_error['message']}")

    argv = list(WORKER_ARGV) if backend == "modal" else runtime_argv(project.path)
    ctx = plan_context(plan, runs_dir, argv, "the Modal image's python" if backend == "modal" else project.how)
    warnings.extend(ctx["warnings"])
    wandb_on = False
    if wandb_configured(os.environ) and not stub:  # stub values never reach a W&B project
        wandb_on = backend == "modal" or project.server().has_wandb  # Modal: the image decides
        if not wandb_on:
            warnings.append(f"W&B is configured (WANDB_MODE/WANDB_PROJECT) but wandb is not installed in "
                            f"{project.path}: metrics go to metrics.jsonl only (pip install wandb there)")
    for w in warnings:
        (warn or echo)(f"warning: {w}")
    started = now_iso()
    echo(f"{exp_id}{' (stub)' if stub else ''}: {len(units)} sub-experiment run(s)"
         + (" (only what failed or never ran)" if rerun_failed else ""))
    res.begin(doc, plan, exp, ctx, stub=stub, started_at=started)
    doc["expkit"]["runs_dir"] = str(runs_dir)
    doc["blockers"] = [b for b in doc.get("blockers") or [] if not (isinstance(b, str) and b.startswith(res.ISSUE_MARK))]
    doc["blockers"] += [f"{res.ISSUE_MARK}dependency {d} has not reached proceed/passed (run forced)" for d in unmet]
    res.save(path, doc)
    source = source_for(plan, exp).to_json()
    report = RunReport(exp_id, stub, path, doc, warnings=warnings)
    multi = len(exp.seeds) > 1
    syncing = _FSYNCS

    for sub, seed in units:
        label = f"{sub.id}" + (f" seed {seed}" if multi else "")
        record: dict[str, Any] = {"sub": sub.id, "seed": seed, "run_id": None, "commit": ctx["git"].get("commit"),
                                  "started_at": now_iso()}
        blocked = [d for d in sub.depends_on if res.sub_status(doc, d, exp.seeds) != "completed"]
        if registered is not None and sub.id not in registered:
            record.update(status="skipped", reason=(f"No handler registered for sub-experiment {sub.id} "
                                                    f"(registered: {', '.join(registered) or 'none'})"))
        elif blocked and backend == "modal":
            record.update(status="skipped", reason=f"depends on {', '.join(blocked)}, which has not completed: "
                          f"after `expkit plan sync {exp_id}` run `expkit plan run {exp_id} --backend modal "
                          "--rerun-failed`")
        elif blocked:
            record.update(status="skipped", reason=f"depends on {', '.join(blocked)}, which did not complete")
        else:
            record.update(_execute_unit(plan, exp, sub, seed, ctx, runs_dir, path.parent, stub=stub, source=source,
                                        wandb_on=wandb_on, import_error=import_error, backend=backend,
                                        backend_options=backend_options, argv=argv, project=project,
                                        syncing=syncing,
                                        echo=lambda msg: echo(f"  {label}: {msg}")))
        record["ended_at"] = now_iso()
        res.record_unit(doc, record)
        verdict = assess(exp, res.sub_outcomes(doc, exp), stub)
        # after the first unit every summary is current: only the sub-experiment that ran since changes
        res.apply_verdict(doc, exp, verdict, final=False, changed=[sub.id] if report.ran else None)
        syncing.wait()  # the previous record and this unit's manifest are on disk ...
        res.save(path, doc, durable=False)  # ... and this record atomically in place: a killed runner loses nothing
        syncing.add(path)  # on disk (fsync) while the next unit starts
        report.ran.append({k: record.get(k) for k in ("sub", "seed", "status", "run_id", "reason")})
        echo(f"  {label}: {record['status']}" + (f": {record.get('reason')}" if record.get("reason") else ""))

    syncing.wait()
    if in_flight(doc):  # on Modal: judged once `expkit plan sync` has brought every unit back
        echo(f"{len(in_flight(doc))} submitted to Modal: `expkit plan sync {exp_id}{' --stub' if stub else ''}` "
             "brings them back and judges the experiment")
        return report
    finish(plan, exp, doc, path, report, stub=stub, runs_dir=runs_dir, render=render)
    return report


def _execute_unit(plan: Plan, exp: Experiment, sub: SubExperiment, seed: int, ctx: dict[str, Any], runs_dir: Path,
                  exp_dir: Path, *, stub: bool, source: dict[str, Any], wandb_on: bool, import_error: dict[str, Any] | None,
                  backend: str, backend_options: dict[str, Any], argv: list[str], project: ProjectPython,
                  syncing: _Fsyncs, echo: Callable[[str], None]) -> dict[str, Any]:
    """One (sub-experiment, seed): an expkit run dir, job.json, the isolated process, its outcome.

    The manifest is written before the unit starts and made durable (fsync) by a thread in `syncing`, while the
    unit starts and runs; the runner joins it before the unit is recorded."""
    from expkit.runs.launch import LaunchRequest, prepare

    exp_id, multi = exp.id, len(exp.seeds) > 1
    name = f"{exp.prefix}-{sub.id}" + (f"-s{seed}" if multi else "") + ("-stub" if stub else "")
    command = f"expkit plan run {exp_id} --sub {sub.id}" + (" --stub" if stub else "")
    req = LaunchRequest(argv=list(argv), name=name, seed=seed, runs_dir=runs_dir, cwd=plan.root,
                        group=f"plan:{exp_id}", backend=backend, backend_options=dict(backend_options),
                        extra={"plan": {"plan": str(plan.path), "plan_sha256": plan.sha256, "experiment": exp_id,
                                        "sub_experiment": sub.id, "seed": seed, "stub": stub, "command": command}})
    run, env, _ = prepare(req, context=ctx, durable=False,
                          status=supervised_status() if backend == "local" and import_error is None else None)
    syncing.add(run.path / MANIFEST)
    config = dict(exp.raw)
    config["_criteria"] = {c.metric: c.to_json() for c in exp.criteria}
    config["run"] = {"experiment_id": exp_id, "sub_experiment_id": sub.id, "seed": seed, "stub": stub,
                     "run_id": run.id, "run_dir": str(run.path), "timeout": sub.timeout, "seeds": exp.seeds}
    wandb_init = None
    if wandb_on:
        wandb_init = {"project": env.get("WANDB_PROJECT") or _slug(plan.raw.get("project")),
                      "name": f"{exp_id}/{sub.id}" + (f"/seed{seed}" if multi else ""),
                      "group": f"plan:{exp_id}", "job_type": sub.id, "dir": str(run.path),
                      "config": {"experiment": exp_id, "sub_experiment": sub.id, "seed": seed, "stub": stub,
                                 "expkit_run_id": run.id}}
    write_json_fast(run.path / JOB, {"experiment_id": exp_id, "sub_id": sub.id, "seed": seed, "stub": stub,
                                     "source": source, "experiment_dir": str(exp_dir),
                                     "artifacts_subdir": f"seed{seed}" if multi else "", "config": config,
                                     "wandb_init": wandb_init})
    if import_error is not None:
        outcome = Outcome("failed", f"handler import failed: {import_error['message']}")
        result = {"ok": False, "error": import_error}
    else:
        echo(f"{'submitting' if backend == 'modal' else 'running'} ({run.id})")
        from expkit.backends import SubmitRejected

        handle = None
        try:
            handle = start_sub_experiment(SubJob(run, list(argv), plan.root, env, sub.timeout,
                                                 dict(backend_options)), backend, project)
            if getattr(handle, "detached", False):  # Modal: the call runs on; `expkit plan sync` records its end
                return {"run_id": run.id, "status": "submitted", "job_id": handle.job_id}
            outcome = handle.wait()
        except SubmitRejected as exc:  # the scheduler refused this job: a failed unit, never a running one
            outcome = Outcome("failed", f"{exc.message} ({exc.hint})" if exc.hint else exc.message)
        except BaseException:  # Ctrl-C: stop this one; it stays "never ran" for --rerun-failed
            if handle is not None:
                handle.kill()  # (a child forked a moment earlier dies with the runner: PDEATHSIG)
            finish_status(run, Outcome("failed", "interrupted: the plan runner was stopped"), stopped=True)
            raise
        result = read_result(run)
    unit = {"run_id": run.id, **unit_result(outcome, result, run)}
    finish_status(run, outcome, reason=unit.get("reason"), state=unit["status"], durable=False)
    return unit


class _Fsyncs:
    """Files made durable (fsync) by one background thread, which waits on the disk, not the CPU, while the next
    unit starts. One thread for the process, not one per file: starting a thread waits for a CPU on a busy machine."""

    def __init__(self) -> None:
        self._todo: queue.Queue[Path] = queue.Queue()
        self._pid: int | None = None  # the process whose thread it is (a forked child has none)

    def add(self, path: Path) -> None:
        if self._pid != os.getpid():
            self._todo, self._pid = queue.Queue(), os.getpid()
            threading.Thread(target=self._work, args=(self._todo,), name="expkit-fsync", daemon=True).start()
        self._todo.put(path)

    def wait(self) -> None:
        """Until every file added so far is on disk."""
        self._todo.join()

    @staticmethod
    def _work(todo: queue.Queue[Path]) -> None:
        while True:
            path = todo.get()
            try:
                fsync_path(path)
            except OSError as exc:  # the file stays as written; the disk said no
                print(f"warning: could not sync {path} to disk: {exc}", file=sys.stderr)
            finally:
                todo.task_done()


_FSYNCS = _Fsyncs()


def plan_context(plan: Plan, runs_dir: Path, argv: list[str] | None = None, chosen_by: str | None = None
                 ) -> dict[str, Any]:
    """The manifest context, captured once per plan run and shared by all its sub-experiment runs.

    `argv` is the units' command; its interpreter is probed (version, torch, wandb ...) and recorded with
    `chosen_by`, why it was chosen.

    research/experiments/<id>/ and research/FINDINGS.md hold results, findings and artifacts that expkit
    itself writes: they are outputs, not code, so they do not make the code state dirty.
    """
    from expkit.runs import gitstate
    from expkit.runs.launch import capture_context

    ctx = capture_context(list(argv or WORKER_ARGV), dict(os.environ), plan.root, runs_dir)
    if chosen_by:
        ctx["python"]["chosen_by"] = chosen_by
    if ctx["git"].get("dirty"):
        outputs = [p for p in (plan.research_dir / "experiments").glob("*") if p.is_dir()]
        outputs.append(plan.research_dir / "FINDINGS.md")
        from expkit.plan.planstatus import only_status_lines_changed

        if only_status_lines_changed(plan):  # a status word expkit wrote after a verdict
            outputs.append(plan.path)
        git, patch = gitstate.capture(plan.root, exclude=[runs_dir, *outputs])
        if not git.get("dirty"):
            ctx["warnings"] = [w for w in ctx["warnings"] if not w.startswith("uncommitted changes")
                               and w not in ctx["git"].get("patch_notes", [])]
            ctx["git"], ctx["patch"] = git, patch
    return ctx


def _slug(project: Any) -> str:
    import re

    name = project.get("name") if isinstance(project, dict) else None
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(name or "expkit-plan")).strip("-") or "expkit-plan"
