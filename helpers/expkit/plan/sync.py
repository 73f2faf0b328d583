"""`expkit plan sync`: bring an experiment's Modal sub-experiments back and judge it.

`sync_experiment` copies each submitted run back, moves its artifacts into the experiment's artifacts dir, turns
its result.json into the unit's record exactly as a local run does (expkit.plan.units), and once nothing is in
flight, judges the experiment and writes FINDINGS.md with the plan runner's own functions.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

from expkit.errors import ExpkitError
from expkit.plan.remote import EXPERIMENT_SUBDIR
from expkit.plan.units import SUBMITTED, Outcome, finish_status, in_flight, read_result, results_lock, unit_result


def _move_artifacts(run_path: Path, exp_dir: Path) -> list[str]:
    """experiment/artifacts/... fetched into the run dir -> the experiment's artifacts dir (as a local run saves)."""
    src = run_path / EXPERIMENT_SUBDIR
    moved = []
    if not src.is_dir():
        return moved
    for f in sorted(p for p in src.rglob("*") if p.is_file()):
        rel = f.relative_to(src)
        target = exp_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(f), str(target))
        moved.append(rel.as_posix())
    shutil.rmtree(src, ignore_errors=True)
    return moved


def _record(doc: dict[str, Any], exp, record: dict[str, Any], stub: bool, path: Path) -> None:
    """One unit's outcome into results.yaml, judged so far and saved, as the runner does after each unit."""
    from expkit.plan import results as res
    from expkit.plan.verdict import assess

    res.record_unit(doc, record)
    res.apply_verdict(doc, exp, assess(exp, res.sub_outcomes(doc, exp), stub), final=False)
    res.save(path, doc)  # an interrupted sync loses nothing


def _fetch(be, run, exp_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """Copy the run's Volume folder into its run dir and its artifacts into the experiment dir."""
    from expkit.plan.worker import JOB

    try:
        fetched = be.sync(run, keep=[JOB])
    except ExpkitError:
        raise
    except Exception as exc:  # noqa: BLE001 - Modal's own error (auth, network, missing Volume) is the message
        if type(exc).__name__ == "NotFoundError":  # the call has not written anything yet
            return {"copied": []}, []
        raise ExpkitError(f"cannot read {run.id} from the Modal Volume: {type(exc).__name__}: {exc}",
                          "check `modal token current` and the network, then run `expkit plan sync` again "
                          "(what was already brought back is kept)") from None
    return fetched, _move_artifacts(run.path, exp_dir)


def sync_experiment(plan, exp_id: str, *, stub: bool = False, runs_dir: Path | None = None,
                    echo: Callable[[str], None] | None = None, render: bool = True):
    """Bring an experiment's Modal sub-experiments back and re-judge it. -> (RunReport or None, backends used).

    None when the experiment's runs were not on Modal: their run dirs and results.yaml are already complete."""
    from expkit import backends
    from expkit.plan import results as res
    from expkit.plan.execute import RunReport, finish
    from expkit.runs.store import TERMINAL, RunStore, default_runs_dir
    from expkit.timeutil import now_iso

    echo = echo or (lambda _msg: None)
    exp = plan.get(exp_id)
    path = res.results_path(plan, exp_id, stub)
    doc = res.load(path)
    if not doc:
        raise ExpkitError(f"{exp_id} has no {'stub ' if stub else ''}results yet ({path})",
                          f"run it first: expkit plan run {exp_id} --backend modal" + (" --stub" if stub else ""))
    runs_dir = Path(runs_dir or doc.get("expkit", {}).get("runs_dir") or default_runs_dir(plan.root)).resolve()
    store = RunStore(runs_dir)
    used: set[str] = set()
    for items in ((doc.get("expkit") or {}).get("runs") or {}).values():
        for r in items:
            if r.get("run_id") and (runs_dir / r["run_id"]).is_dir():
                used.add(((store.get(r["run_id"]).manifest().get("backend")) or {}).get("name", "local"))
    pending = in_flight(doc)
    if not pending and "modal" not in used:
        return None, sorted(used)

    if pending:
        backends.get("modal").check()  # no package or no credentials: say so before touching anything
    lock = results_lock(runs_dir / f".plan-{exp_id}{'-stub' if stub else ''}.lock", path)
    try:
        doc = res.load(path)  # as it is now that no runner writes it
        report = RunReport(exp_id, stub, path, doc)
        for sub, rec in in_flight(doc):
            label = f"{sub}" + (f" seed {rec.get('seed')}" if len(exp.seeds) > 1 else "")
            try:
                run = store.get(rec["run_id"])
            except ExpkitError:  # recorded as failed, so `--rerun-failed` runs it again
                record = {**rec, "sub": sub, "status": "failed", "ended_at": now_iso(),
                          "reason": f"its run dir {runs_dir / rec['run_id']} is gone: it cannot be brought back"}
                _record(doc, exp, record, stub, path)
                report.ran.append({k: record.get(k) for k in ("sub", "seed", "status", "run_id", "reason")})
                continue
            be = backends.for_run(run)
            fetched, moved = _fetch(be, run, path.parent)
            raw = run.raw_status()
            if raw.get("state") not in TERMINAL:  # nothing final on the Volume yet: ask Modal about the call
                raw = be.status([run]).get(run.id, raw)
                if raw.get("state") in TERMINAL:  # it ended a moment ago: fetch what it wrote since
                    fetched, more = _fetch(be, run, path.parent)
                    moved += more
                    raw = run.raw_status()  # status() recorded the call's end; the Volume's own record wins
            if raw.get("state") not in TERMINAL:
                echo(f"  {label}: still {raw.get('state')} on Modal ({run.id})")
                report.ran.append({"sub": sub, "seed": rec.get("seed"), "status": SUBMITTED, "run_id": run.id,
                                   "reason": raw.get("note")})
                continue
            ok = raw["state"] == "succeeded"
            outcome = Outcome("succeeded" if ok else "failed", None if ok else raw.get("reason"),
                              raw.get("exit_code"), raw.get("signal") if isinstance(raw.get("signal"), int) else None)
            unit = {"run_id": run.id, **unit_result(outcome, read_result(run), run)}
            finish_status(run, outcome, reason=unit.get("reason"), state=unit["status"])
            if raw.get("ended_at"):  # when it ended on Modal, not when it was brought back
                run.write_status({**run.raw_status(), "ended_at": raw["ended_at"]})
            record = {**{k: v for k, v in rec.items() if k not in ("status", "reason", "traceback")}, **unit,
                      "sub": sub, "ended_at": raw.get("ended_at") or now_iso()}
            _record(doc, exp, record, stub, path)
            echo(f"  {label}: {unit['status']}" + (f": {unit['reason']}" if unit.get("reason") else "")
                 + f" ({len(fetched['copied'])} files, {len(moved)} artifacts)")
            report.ran.append({k: record.get(k) for k in ("sub", "seed", "status", "run_id", "reason")})
        if not in_flight(doc):
            finish(plan, exp, doc, path, report, stub=stub, runs_dir=runs_dir, render=render)
        report.doc = doc
        return report, sorted(used)
    finally:
        lock.close()
