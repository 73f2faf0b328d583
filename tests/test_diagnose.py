"""`expkit runs diagnose` on a corpus of real failure messages (tests/logs/) and on hostile input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from expkit.monitor.diagnose import diagnose

LOGS = Path(__file__).parent / "logs"
EXPECTED = json.loads((LOGS / "expected.json").read_text())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus(name):
    exp = EXPECTED[name]
    result = diagnose(LOGS / name)
    problems = [f for f in result["findings"] if f["severity"] in ("error", "warning", "info")]
    if exp["category"] is None:
        assert result["findings"] == [], result["findings"]
        assert result["healthy"] is True
        return
    top = problems[0]
    assert top["category"] == exp["category"], [f["category"] for f in problems]
    for key, value in exp["numbers"].items():
        assert top["numbers"].get(key) == value, (key, top["numbers"])
    assert top["evidence"] and all(ev["text"] for ev in top["evidence"])
    assert top["fixes"] or top["severity"] == "info"
    assert 0 < top["confidence"] <= 1
    if "line" in exp:
        assert top["evidence"][0]["line"] == exp["line"]
    if "user_frame" in exp:
        tb = top.get("traceback") or top["numbers"]
        assert [tb["user_frame"]["file"], tb["user_frame"]["line"]] == exp["user_frame"]
    if "fix_contains" in exp:
        assert any(exp["fix_contains"] in f for f in top["fixes"]), top["fixes"]


def test_evidence_line_numbers_point_at_the_message():
    result = diagnose(LOGS / "cuda_oom_torch2.log")
    ev = result["cause"]["evidence"][0]
    lines = (LOGS / "cuda_oom_torch2.log").read_text().splitlines()
    assert lines[ev["line"] - 1].startswith("torch.OutOfMemoryError")


def test_oom_fixes_are_concrete():
    fixes = " ".join(diagnose(LOGS / "cuda_oom_torch2.log")["cause"]["fixes"])
    for needle in ("batch size", "gradient accumulation", "bf16", "gradient checkpointing",
                   "expandable_segments:True"):
        assert needle in fixes


def test_cli_json_and_exit_code(expkit):
    r = expkit("runs", "diagnose", LOGS / "module_cv2.log", "--json")
    assert r.returncode == 1, r
    assert r.json()["cause"]["numbers"]["package"] == "opencv-python"
    ok = expkit("runs", "diagnose", LOGS / "healthy_plain.log")
    assert ok.returncode == 0, ok
    assert "no known error" in ok.stdout


def test_missing_log_says_so(expkit, tmp_path):
    r = expkit("runs", "diagnose", tmp_path / "nope.log")
    assert r.returncode == 2
    assert "error: log file not found" in r.stderr and "hint:" in r.stderr
    assert "Traceback" not in r.stderr


def test_empty_log(tmp_path):
    (tmp_path / "empty.log").write_bytes(b"")
    result = diagnose(tmp_path / "empty.log")
    assert result["findings"] == [] and result["cause"] is None


def test_binary_garbage_invalid_utf8_and_ansi(tmp_path):
    import random

    rnd = random.Random(0)
    garbage = bytes(rnd.randrange(256) for _ in range(200_000)).replace(b"\n", b"")
    log = tmp_path / "bin.log"
    log.write_bytes(garbage + b"\n\xff\xfe step=1 loss=0.5\n"
                    + b"\x1b[31mModuleNotFoundError\x1b[0m: No module named 'sklearn'\n" + b"\x00\x01\x02\n")
    result = diagnose(log)
    assert result["cause"]["category"] == "import_error"
    assert result["cause"]["numbers"]["package"] == "scikit-learn"
    assert "\x1b" not in json.dumps(result)


def test_ten_megabyte_line_and_tqdm_carriage_returns(tmp_path):
    bar = "\r".join(f" {i}%|#     | {i}/100 [00:0{i % 10}<00:10,  9.{i % 10}it/s, loss={2 - i / 100:.2f}]"
                    for i in range(100))
    log = tmp_path / "long.log"
    log.write_bytes(b"x" * (10 << 20) + b"\n" + bar.encode() + b"\n"
                    + b"RuntimeError: CUDA error: an illegal memory access was encountered\n")
    result = diagnose(log)
    assert result["cause"]["category"] == "cuda_illegal_memory"
    assert result["cause"]["evidence"][0]["line"] == 3
    assert result["progress"]["step"] == 99 and result["progress"]["total"] == 100


def test_python_scanner_agrees_with_grep(tmp_path, monkeypatch):
    log = tmp_path / "mixed.log"  # every corpus log in one file: every pattern must find the same lines
    log.write_bytes(b"".join((LOGS / name).read_bytes() for name in sorted(EXPECTED)))
    with_grep = diagnose(log)
    monkeypatch.setenv("EXPKIT_NO_GREP", "1")
    without = diagnose(log)
    assert without["scan"]["engine"] == "python"
    strip = lambda r: [(f["category"], [e["line"] for e in f["evidence"]], f["numbers"]) for f in r["findings"]]
    assert strip(with_grep) == strip(without)


def test_big_log_is_answered_from_its_tail(tmp_path, monkeypatch):
    import expkit.monitor.diagnose as d

    monkeypatch.setattr(d, "FULL_SCAN_BYTES", 1 << 20)
    log = tmp_path / "big.log"
    with open(log, "wb") as fh:
        for i in range(60000):
            fh.write(f"step={i} loss={1 / (i + 1):.5f}\n".encode())
        fh.write((LOGS / "module_sklearn.log").read_bytes())
    result = diagnose(log)
    assert result["scan"]["mode"] == "tail"
    cause = result["cause"]
    assert cause["category"] == "import_error"
    assert cause["evidence"][-1]["line"] is None and cause["evidence"][-1]["from_end"] == 1
    full = diagnose(log, full=True)
    assert full["scan"]["mode"] == "full" and full["cause"]["evidence"][-1]["line"] == 60004


def test_rising_loss_is_flagged_but_falling_is_not(tmp_path):
    rising = tmp_path / "rising.log"
    rising.write_text("".join(f"step={i} loss={1 + i / 20:.3f}\n" for i in range(60)))
    result = diagnose(rising)
    assert [f["category"] for f in result["findings"]] == ["loss_not_improving"]
    assert result["findings"][0]["severity"] == "warning"
    falling = tmp_path / "falling.log"
    falling.write_text("".join(f"step={i} loss={3 - i / 30:.3f}\n" for i in range(60)))
    assert diagnose(falling)["findings"] == []


def test_throughput_drop_is_flagged(tmp_path):
    log = tmp_path / "slow.log"
    rates = [10.0] * 30 + [3.0] * 10
    log.write_text("\r".join(f" {i}%|#| {i}/100 [00:01<00:10, {r}it/s]" for i, r in enumerate(rates)) + "\n")
    cats = [f["category"] for f in diagnose(log)["findings"]]
    assert cats == ["throughput_drop"]


@pytest.mark.parametrize("engine", ["grep", "python"])
def test_every_line_matching_stays_bounded(tmp_path, monkeypatch, engine):
    if engine == "python":
        monkeypatch.setenv("EXPKIT_NO_GREP", "1")
    log = tmp_path / "allnan.log"
    log.write_bytes(b"step=1 loss=2.5\n" + b"".join(b"step=%d loss=nan\n" % i for i in range(2, 50002)))
    result = diagnose(log)
    assert result["scan"]["engine"] == engine and result["scan"]["matching_lines"] == 50000
    cause = result["cause"]
    assert cause["numbers"]["step"] == 2 and cause["numbers"]["last_finite_loss"] == 2.5
    assert cause["evidence"][0]["line"] == 2 and cause["occurrences_at_least"] is True


def test_generic_exception_at_the_end_of_a_big_log_is_answered_from_the_tail(tmp_path, monkeypatch):
    import expkit.monitor.diagnose as d

    monkeypatch.setattr(d, "FULL_SCAN_BYTES", 1 << 20)
    log = tmp_path / "big.log"
    log.write_bytes(b"".join(b"step=%d loss=0.5\n" % i for i in range(80000)) + (LOGS / "generic_keyerror.log").read_bytes())
    result = diagnose(log)
    assert result["scan"]["mode"] == "tail"
    cause = result["cause"]
    assert cause["numbers"]["exception_type"] == "KeyError"
    assert [ev["from_end"] for ev in cause["evidence"]] == [4, 3, 1]


def test_any_bytes_never_crash():
    """Arbitrary bytes, with real messages spliced in: diagnose always answers, never raises."""
    import tempfile

    from hypothesis import given, settings, strategies as st

    pieces = st.sampled_from([(LOGS / n).read_bytes()[:300] for n in sorted(EXPECTED)] + [b"\r", b"\x1b[31m", b"\n"])

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.one_of(st.binary(max_size=300), pieces), max_size=12))
    def check(chunks):
        with tempfile.NamedTemporaryFile(suffix=".log") as fh:
            fh.write(b"".join(chunks))
            fh.flush()
            result = diagnose(fh.name)
            json.dumps(result)
            assert isinstance(result["findings"], list)

    check()
