"""results.yaml in the shape research projects and their dashboards already read.

Top level: experiment_id, status, executed_by, started_at, completed_at, success_criteria,
results.experiments.<sub>.{status, finding, metrics, artifacts, error}, assessment, recommendation,
recommendation_notes, blockers, issues. expkit's own record (runs, seeds, commit, stub flag, per-criterion
verdicts) lives under the one key `expkit`. Keys expkit does not write are kept as they were.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any

import expkit
from expkit.errors import ExpkitError
from expkit.fsutil import atomic_write_text
from expkit.plan.schema import Experiment, Plan
from expkit.plan.verdict import assess, summarize

RESULTS_FILE = "results.yaml"
STUB_DIR = "stub"
ISSUE_MARK = "[expkit] "


def results_path(plan: Plan, exp_id: str, stub: bool = False) -> Path:
    base = plan.experiment_dir(exp_id)
    return (base / STUB_DIR if stub else base) / RESULTS_FILE


def load(path: Path) -> dict[str, Any]:
    """An existing results.yaml (never discarded); {} when there is none."""
    from expkit.yamlfile import YamlError, load_yaml

    if not path.exists():
        return {}
    try:  # YAML 1.2 numbers: another runner's `1e-5` is a metric, not a string
        doc = load_yaml(path, source=str(path))
    except YamlError as exc:
        problem = exc.problem if exc.problem != exc.message else exc.message.removeprefix(f"{path}: ")
        raise ExpkitError(f"cannot read {path}{f':{exc.line}' if exc.line else ''}: {problem}",
                          "fix the file by hand, or move it aside to start fresh (expkit never discards results)") \
            from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ExpkitError(f"{path} is not a mapping", "move it aside to start fresh (expkit never discards results)")
    return doc


class _Rendered:
    """What the last save redacted and rendered, reused while it is unchanged: the runner saves results.yaml after
    every unit, and all but one or two entries are as they were. One redactor across saves: a value it learned to
    mask (a URL password, a token) is masked everywhere, so anything rendered before it learned it is redone."""

    def __init__(self) -> None:
        self.known: list[str] | None = None
        self.redactor: Any = None
        self.lines: dict = {}

    def text(self, doc: dict[str, Any]) -> str:
        from expkit.plan.yamlout import dump_reusing
        from expkit.redact import Redactor, secret_values

        known = secret_values(os.environ)
        if known != self.known:
            self.known, self.redactor, self.lines = known, Redactor(known), {}
        while True:
            learned = len(self.redactor.values)
            text, self.lines = dump_reusing(doc, self.redactor.strings, self.lines)
            if len(self.redactor.values) == learned:
                return text
            self.lines = {}


_RENDERED = _Rendered()


def save(path: Path, doc: dict[str, Any], durable: bool = True) -> None:
    """Atomic always; durable=False leaves the fsync to the caller (the plan runner does it in the background).
    Results are shared: no URL password, token or secret value of this environment goes into them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, _RENDERED.text(doc), durable)


def begin(doc: dict[str, Any], plan: Plan, exp: Experiment, ctx: dict[str, Any], *, stub: bool,
          started_at: str) -> None:
    """Mark the start of a plan run; keep everything already recorded."""
    git = ctx.get("git") or {}
    earlier = doc.get("executed_by") if doc and not written_by_expkit(doc) else None
    doc["experiment_id"] = exp.id
    doc["status"] = "in_progress"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    doc["executed_by"] = f"expkit {expkit.__version__} ({user}@{os.uname().nodename})"
    doc["started_at"] = started_at
    doc["completed_at"] = None
    doc["success_criteria"] = {c.metric: c.to_json() for c in exp.criteria}
    doc.setdefault("results", {})
    if not isinstance(doc["results"], dict):
        doc["results"] = {"previous": doc["results"]}
    doc["results"].setdefault("experiments", {})
    for key in ("assessment", "recommendation", "recommendation_notes"):
        doc.setdefault(key, None)
    doc.setdefault("blockers", [])
    doc.setdefault("issues", [])
    ex = doc.setdefault("expkit", {})
    ex.update(schema=1, version=expkit.__version__, stub=stub, plan=str(plan.path), plan_sha256=plan.sha256,
              commit=git.get("commit"), branch=git.get("branch"), dirty=git.get("dirty"),
              seeds=list(exp.seeds), command=f"expkit plan run {exp.id}" + (" --stub" if stub else ""))
    ex.setdefault("runs", {})
    if earlier:  # results another runner wrote stay, and are judged with expkit's
        ex.setdefault("earlier_results_by", earlier)


def record_unit(doc: dict[str, Any], record: dict[str, Any]) -> None:
    """Store one (sub, seed) outcome, replacing an earlier attempt of the same seed."""
    runs = doc["expkit"]["runs"].setdefault(record["sub"], [])
    previous = [r for r in runs if r.get("seed") == record["seed"]]
    attempts = (previous[0].get("attempts", 1) + 1) if previous else 1
    if (previous and previous[0].get("status") == "submitted" and record.get("run_id")
            and previous[0].get("run_id") == record["run_id"]):
        # the same run, now finished (a Modal run brought back by `plan sync`): not a new attempt. Only a run still
        # submitted counts: a run id alone can come back when a deleted run dir is re-run within the same second.
        attempts -= 1
    entry = {k: v for k, v in record.items() if k != "sub" and v is not None}
    entry["attempts"] = attempts
    runs[:] = sorted([r for r in runs if r.get("seed") != record["seed"]] + [entry], key=lambda r: r.get("seed", 0))


def succeeded_units(doc: dict[str, Any], exp: Experiment | None = None) -> set[tuple[str, int]]:
    """(sub, seed) units that have a result; with `exp`, a sub-experiment another runner completed counts for
    every seed (--rerun-failed does not redo it)."""
    runs = (doc.get("expkit") or {}).get("runs") or {}
    done = {(sub, r.get("seed")) for sub, items in runs.items() for r in items if r.get("status") == "succeeded"}
    if exp is not None:
        for sub, outcome in sub_outcomes(doc, exp).items():
            if outcome.get("by") == "another runner" and outcome["status"] == "completed":
                done |= {(sub, seed) for seed in exp.seeds}
    return done


def sub_status(doc: dict[str, Any], sub: str, seeds: list[int]) -> str:
    """completed | failed | skipped | not_run, over the seeds the plan asks for."""
    items = {r.get("seed"): r for r in ((doc.get("expkit") or {}).get("runs") or {}).get(sub, [])}
    states = [items[s].get("status") if s in items else "not_run" for s in seeds]
    if "failed" in states:
        return "failed"
    if all(s == "succeeded" for s in states):
        return "completed"
    if "skipped" in states:
        return "skipped"
    return "not_run"


def sub_outcomes(doc: dict[str, Any], exp: Experiment) -> dict[str, dict[str, Any]]:
    """{sub: {status, seed_metrics, seeds}} for every planned sub-experiment: from expkit's own runs where it ran
    the sub-experiment, else from `results.experiments.<sub>` as another runner wrote it."""
    return read_subs(doc, exp)[0]


def written_by_expkit(doc: dict[str, Any]) -> bool:
    return isinstance(doc.get("expkit"), dict) and "runs" in doc["expkit"]


def _numbers(metrics: Any) -> dict[str, float]:
    if not isinstance(metrics, dict):
        return {}
    return {str(k): v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def match_keys(sub_ids: list[str], keys: list[str]) -> tuple[dict[str, str], list[str]]:
    """Results keys -> planned sub-experiment ids: the same id, or the id followed by a descriptive suffix
    (`e3_1_sanity_check` is e3_1; the longest planned id wins). Returns ({sub: key}, keys matching no sub)."""
    found: dict[str, str] = {}
    unplanned = []
    planned = set(sub_ids)
    for key in keys:
        if key in planned:  # the id itself: no other id that matches is as long (what expkit writes)
            found[key] = key
            continue
        cands = [s for s in sub_ids if key.startswith(s) and key[len(s):len(s) + 1] in ("_", "-", ".")]
        if not cands:
            unplanned.append(key)
            continue
        sub = max(cands, key=len)
        if sub not in found or key == sub:
            found[sub] = key
    return found, unplanned


def read_subs(doc: dict[str, Any], exp: Experiment) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """sub_outcomes, plus warnings about what another runner wrote that could not be read as written."""
    from expkit.plan import words

    runs = (doc.get("expkit") or {}).get("runs") or {}
    written = ((doc.get("results") or {}) if isinstance(doc.get("results"), dict) else {}).get("experiments")
    written = written if isinstance(written, dict) else {}
    keys, unplanned = match_keys(exp.sub_ids, [str(k) for k in written])
    out, warnings = {}, []
    for sub in exp.sub_ids:
        if sub in runs:
            items = [r for r in runs.get(sub, []) if r.get("seed") in exp.seeds]
            ok = [r for r in items if r.get("status") == "succeeded"]
            out[sub] = {"status": sub_status(doc, sub, exp.seeds), "seed_metrics": [r.get("metrics") or {} for r in ok],
                        "seeds": [r.get("seed") for r in ok], "by": "expkit"}
            continue
        entry = written.get(keys.get(sub)) if sub in keys else None
        if not isinstance(entry, dict):
            out[sub] = {"status": "not_run", "seed_metrics": [], "seeds": []}
            continue
        state, known = words.sub_status(entry.get("status"))
        if not known:
            warnings.append(f"{exp.id}: sub-experiment {keys[sub]} has status '{entry.get('status')}', a word expkit "
                            "does not know: counted as having no result")
        metrics = _numbers(entry.get("metrics"))
        out[sub] = {"status": state, "seed_metrics": [metrics] if state == "completed" else [],
                    "seeds": [None] if state == "completed" else [], "by": "another runner", "key": keys[sub],
                    "raw_status": entry.get("status")}
    if unplanned:
        warnings.append(f"{exp.id}: results for {', '.join(unplanned)}, which the plan does not list under "
                        "sub_experiments: not judged")
    return out, warnings


def _sub_entry(exp: Experiment, sub: str, items: list[dict[str, Any]], status: str) -> dict[str, Any]:
    ok = [r for r in items if r.get("status") == "succeeded"]
    names: list[str] = []
    for r in ok:
        names += [k for k in (r.get("metrics") or {}) if k not in names]
    metrics = {}
    stats = {}
    for name in names:
        s = summarize([r["metrics"][name] for r in ok if name in (r.get("metrics") or {})])
        metrics[name] = s["mean"] if s["n"] else (ok[0]["metrics"].get(name) if ok else None)
        if len(exp.seeds) > 1:
            stats[name] = {k: s[k] for k in ("n", "mean", "std", "ci95")}
    findings = []
    for r in ok:
        if r.get("finding") and r["finding"] not in findings:
            findings.append(r["finding"])
    if len(findings) > 1:  # one per seed: say which, so "val 2.73 val 2.74" does not read as one sentence
        findings = [f"seed {r.get('seed')}: {r['finding']}" if len(exp.seeds) > 1 else r["finding"]
                    for r in ok if r.get("finding")]
        findings = [f.rstrip(".") + "." for f in findings]
    artifacts: list[str] = []
    for r in ok:
        artifacts += [a for a in r.get("artifacts") or [] if a not in artifacts]
    errors = [r.get("reason") for r in items if r.get("status") in ("failed", "skipped") and r.get("reason")]
    entry = {"status": status, "finding": " ".join(findings) if findings else None, "metrics": metrics,
             "artifacts": artifacts, "error": errors[0] if errors else None}
    if stats:
        entry["metric_stats"] = stats
    return entry


def apply_verdict(doc: dict[str, Any], exp: Experiment, verdict: dict[str, Any], final: bool,
                  changed: list[str] | None = None) -> None:
    """The verdict and every sub-experiment's summary into the document; `changed`: only these sub-experiments
    have new runs since the last call (the runner after one unit), the others' summaries stand."""
    runs = doc["expkit"]["runs"]
    experiments = doc["results"]["experiments"]
    for sub in exp.sub_ids:
        if sub in runs and (changed is None or sub in changed):
            entry = _sub_entry(exp, sub, runs[sub], sub_status(doc, sub, exp.seeds))
            old = experiments.get(sub) if isinstance(experiments.get(sub), dict) else {}
            experiments[sub] = {**old, **entry}
    ex = doc["expkit"]
    ex["counts"] = verdict["counts"]
    ex["criteria"] = verdict["criteria"]
    ex["review"] = verdict.get("review") or []
    doc["assessment"] = verdict["assessment"]
    doc["recommendation"] = verdict["recommendation"]
    doc["recommendation_notes"] = verdict["recommendation_notes"]
    failed = [s for s in exp.sub_ids if (experiments.get(s) or {}).get("status") == "failed" and s in runs]
    issues = [i for i in doc.get("issues") or [] if not (isinstance(i, str) and i.startswith(ISSUE_MARK))]
    doc["issues"] = issues + [f"{ISSUE_MARK}{s} failed: {experiments[s].get('error')}" for s in failed]
    doc["status"] = verdict["status"] if final else "in_progress"
    if not final:  # a run still going (or stopped midway) recommends nothing yet
        doc["recommendation"] = "investigate"
        doc["recommendation_notes"] = f"the run has not finished; so far: {verdict['recommendation_notes']}"


def judge(doc: dict[str, Any], exp: Experiment) -> dict[str, Any]:
    """The verdict on results.yaml as it stands, whoever wrote it. Results another runner wrote are judged
    against the plan's success_criteria; their own `assessment` only says which sub-experiment's value counts."""
    foreign = not written_by_expkit(doc)
    assessment = doc.get("assessment") if foreign and isinstance(doc.get("assessment"), dict) else None
    stub = bool((doc.get("expkit") or {}).get("stub")) or doc.get("status") == "stub"
    return assess(exp, sub_outcomes(doc, exp), stub, assessment)
