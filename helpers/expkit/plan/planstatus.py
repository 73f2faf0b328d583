"""After a judged run, the plan's `status:` line follows the verdict: one word on one line changes, nothing else.

Only the words expkit itself uses (not_started, in_progress, completed, passed, pivoted, failed, blocked) are
replaced. A word the researcher chose (`passed_with_pivot`, `deferred`) is their decision: it is left alone and
`expkit plan status` shows it as stale when the judged result disagrees. Nothing is written when the plan file
changed since it was read, when the experiment has no `status:` line, or when the edit would not read back.
"""

from __future__ import annotations

import hashlib
from typing import Any

from expkit.fsutil import atomic_write_text
from expkit.plan import words
from expkit.plan.schema import STATUSES, Plan
from expkit.plan.status import implied_status, stale_plan_status


def record(plan: Plan, exp_id: str, verdict: dict[str, Any]) -> str | None:
    """Update `experiments.<exp_id>.status` to what the verdict implies; a sentence saying what happened, or None."""
    import yaml

    implied = implied_status(verdict)
    entry = plan.experiments[exp_id].raw
    current = entry.get("status")
    if implied is None or current == implied:
        return None
    note = stale_plan_status(words.status(current), verdict)
    if note is None:  # the plan already agrees (or says nothing)
        return None
    if current is not None and str(current) not in STATUSES:
        return f"{plan.path.name}: {exp_id} keeps its status '{current}' (a word you chose); {note}"
    text = plan.path.read_text(encoding="utf-8")
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != plan.sha256:
        return f"{plan.path.name} changed during the run: {exp_id}'s status was not updated ({note})"
    from expkit.yamlfile import YamlError, compose_yaml, load_yaml

    node = compose_yaml(text, source=str(plan.path))
    exps = _value(node, "experiments")
    exp_node = _value(exps, exp_id) if exps is not None else None
    st = _value(exp_node, "status") if exp_node is not None else None
    if not isinstance(st, yaml.ScalarNode) or st.start_mark.line != st.end_mark.line:
        return f"{plan.path.name}: {exp_id} has no one-line `status:` to update ({note})"
    quote = st.style if st.style in ("'", '"') else ""
    new = text[:st.start_mark.index] + f"{quote}{implied}{quote}" + text[st.end_mark.index:]
    try:
        check = load_yaml(new, source=str(plan.path))
        old = load_yaml(text, source=str(plan.path))
        old["experiments"][exp_id]["status"] = implied
        if check != old:
            return None
    except (YamlError, KeyError, TypeError):
        return None
    atomic_write_text(plan.path, new)
    plan.raw["experiments"][exp_id]["status"] = implied
    plan.sha256 = hashlib.sha256(new.encode("utf-8")).hexdigest()
    return f"{plan.path.name} line {st.start_mark.line + 1}: {exp_id} status {current or '(empty)'} -> {implied}"


def _value(node, key: str):
    import yaml

    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            return v
    return None


def only_status_lines_changed(plan: Plan) -> bool:
    """True when the plan differs from the last commit only in `status:` lines (expkit's own bookkeeping, like
    FINDINGS.md): such a plan does not make the code state of a run dirty."""
    import re
    import subprocess

    try:
        out = subprocess.run(["git", "diff", "--no-color", "--unified=0", "HEAD", "--", plan.path.name],
                             cwd=plan.path.parent, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    if out.returncode != 0 or not out.stdout:
        return False
    changed = [line for line in out.stdout.splitlines()
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    return bool(changed) and all(re.match(r"^[+-]\s*status:\s*[\w\"'-]+\s*(#.*)?$", line) for line in changed)
