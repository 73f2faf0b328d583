"""Plan files as people mistype them: each one refused with `error:` naming its lines, a `hint:`, and nothing written.

`expkit plan validate` exits 1 (it ran and found problems); every other command exits 2 (bad input) before it
creates a run, a results file or a FINDINGS.md.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from conftest import expkit_env

CASES = {
    "duplicate experiment id": (
        "experiments:\n"
        "  c1-a:\n"
        "    sub_experiments: [e1_1]\n"
        "  c2-b:\n"
        "    sub_experiments: [e2_1]\n"
        "  c1-a:\n"
        "    sub_experiments: [e1_2]\n",
        ["key 'c1-a' appears twice, on lines 2 and 6"], "keep one of them"),
    "duplicate sub-experiment id": (
        "experiments:\n"
        "  c1-a:\n"
        "    sub_experiments:\n"
        "      - e1_1\n"
        "      - e1_2\n"
        "      - e1_1\n",
        [":6:9: sub-experiment 'e1_1' is listed twice (lines 4 and 6)"], "keep one of them"),
    "duplicate criterion": (
        "experiments:\n"
        "  c1-a:\n"
        "    sub_experiments: [e1_1]\n"
        "    success_criteria:\n"
        "      loss: {target: 0.1, failure: 0.5}\n"
        "      acc: {target: 0.9, failure: 0.5}\n"
        "      loss: {target: 0.2, failure: 0.6}\n",
        ["key 'loss' appears twice, on lines 5 and 7"], "keep one of them"),
    "sub-experiment id with a path separator": (
        "experiments:\n"
        "  c1-a:\n"
        "    sub_experiments: [e1_1, ../../etc]\n",
        [":3:29: sub-experiment id '../../etc' cannot be used"], "use letters, digits"),
    "sub-experiment id with a backslash": (
        "experiments:\n"
        "  c1-a:\n"
        "    sub_experiments:\n"
        "      - {id: 'e1\\x', timeout: 60}\n",
        [":4:9: sub-experiment id 'e1\\x' cannot be used"], "use letters, digits"),
    "dependency cycle": (
        "experiments:\n"
        "  c1-a:\n"
        "    sub_experiments: [e1_1]\n"
        "    dependencies: [c2-b]\n"
        "  c2-b:\n"
        "    sub_experiments: [e2_1]\n"
        "    dependencies: [c3-c]\n"
        "  c3-c:\n"
        "    sub_experiments: [e3_1]\n"
        "    dependencies: [c1-a]\n",
        [":4:19: dependency cycle: c1-a -> c2-b -> c3-c -> c1-a"], "remove one of these dependencies"),
    "an experiment depending on itself": (
        "experiments:\n"
        "  c1-a:\n"
        "    sub_experiments: [e1_1]\n"
        "    dependencies: [c1-a]\n",
        [":4:19: dependency cycle: c1-a -> c1-a"], "remove one of these dependencies"),
}

BOMB = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] +
                 [f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)] +
                 ["experiments:", "  c1-a:", "    sub_experiments: [e1_1]", "    notes: *i", ""])


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _project(tmp_path, text):
    (tmp_path / "research").mkdir()
    (tmp_path / "research" / "research_plan.yaml").write_text(text)
    return tmp_path


@pytest.mark.parametrize("case", list(CASES))
def test_each_malformed_plan_is_refused_with_its_lines_and_a_hint(tmp_path, expkit, case):
    text, errors, hint = CASES[case]
    proj = _project(tmp_path, text)
    before = _tree(proj)
    r = expkit("plan", "validate", cwd=proj)
    assert r.returncode == 1, r
    assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    for error in errors:
        assert error in r.stderr, r.stderr
    assert f"hint: {hint}" in r.stderr
    for args in (["plan", "status"], ["plan", "run", "c1-a"], ["plan", "findings", "--all"],
                 ["plan", "new", "c9-new"]):
        r = expkit(*args, cwd=proj)
        assert r.returncode == 2, (args, r)
        assert r.stderr.startswith("error: ") and "\nhint: " in r.stderr and "Traceback" not in r.stderr
        assert errors[0] in r.stderr
    assert _tree(proj) == before  # no run, no results, no FINDINGS.md, the plan untouched


def test_an_alias_bomb_is_refused_fast_and_small(tmp_path, expkit):
    """A 1 KB "billion laughs" plan (9^9 strings once expanded) is refused by the node count, never expanded."""
    from expkit.plan.schema import check_plan

    proj = _project(tmp_path, BOMB)
    plan_file = proj / "research" / "research_plan.yaml"
    assert plan_file.stat().st_size < 1024
    cpu = time.process_time()
    _, problems = check_plan(plan_file)
    assert time.process_time() - cpu < 1.0  # CPU seconds, so a busy machine does not make it flaky
    assert problems and "aliases expand to more than" in problems[0].message and problems[0].hint
    # the whole command, in its own process: exit 1, error + hint, peak memory well under 100 MB. VmHWM is the
    # peak of this program only (ru_maxrss would count the pages the child inherited from pytest at fork)
    peak_file = tmp_path / "peak"
    wrapper = ("import atexit, runpy, sys\n"
               "def peak():\n"
               "    hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]\n"
               f"    open({str(peak_file)!r}, 'w').write(hwm)\n"
               "atexit.register(peak)\n"
               "sys.argv = ['expkit', 'plan', 'validate']\n"
               "runpy.run_module('expkit', run_name='__main__')\n")
    r = subprocess.run([sys.executable, "-c", wrapper], cwd=proj, env=expkit_env(), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1, r.stderr
    assert "aliases expand to more than" in r.stderr and "an alias bomb?" in r.stderr and "\nhint: " in r.stderr
    assert int(peak_file.read_text()) < 100 * 1024, f"peak {peak_file.read_text()} KiB"
    peak_file.unlink()
    assert _tree(proj) == {"research/research_plan.yaml": BOMB.encode()}
    r = expkit("plan", "run", "c1-a", cwd=proj)
    assert r.returncode == 2 and "alias bomb" in r.stderr and "hint:" in r.stderr
