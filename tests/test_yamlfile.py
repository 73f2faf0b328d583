"""The one YAML loader: YAML 1.2 numbers, duplicate keys, alias bombs, size limits and non-text files."""

from __future__ import annotations

import resource
import time

import pytest

from expkit.yamlfile import YamlError, compose_yaml, load_yaml

BOMB = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] +
                 [f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8)])


@pytest.mark.parametrize("fast", [True, False])
def test_numbers_are_read_as_yaml_1_2_reads_them(fast):
    data = load_yaml("a: 1e-5\nb: 5E-4\nc: +3\nd: -2.5e+3\ne: .5\nf: 1.0e-05\ng: '1e-5'\nh: 1_000\ni: .inf\n"
                     "j: 3\nk: e5\nl: 1e\n", fast=fast)
    assert data == {"a": 1e-5, "b": 5e-4, "c": 3, "d": -2500.0, "e": 0.5, "f": 1e-5, "g": "1e-5", "h": 1000,
                    "i": float("inf"), "j": 3, "k": "e5", "l": "1e"}
    assert isinstance(data["c"], int) and isinstance(data["a"], float)


def test_a_duplicate_key_names_both_lines():
    with pytest.raises(YamlError) as exc:
        load_yaml("parameters:\n  lr:\n    min: 1\n  lr:\n    min: 2\n", source="sweep.yaml")
    assert exc.value.line == 4
    assert "'lr' appears twice, on lines 2 and 4" in exc.value.message and "sweep.yaml" in exc.value.message
    with pytest.raises(YamlError, match="appears twice"):
        load_yaml("{a: 1, a: 2}")


def test_merge_keys_and_ordinary_anchors_still_work():
    data = load_yaml("base: &b {lr: 1e-3, bs: 32}\nrun:\n  <<: *b\n  bs: 64\nother: *b\n")
    assert data["run"] == {"lr": 1e-3, "bs": 64} and data["other"] == {"lr": 1e-3, "bs": 32}


@pytest.mark.timeout(30)
def test_an_alias_bomb_is_refused_quickly_without_memory_growth():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    with pytest.raises(YamlError, match="alias bomb"):
        load_yaml(BOMB, source="research_plan.yaml")
    assert time.monotonic() - start < 5  # a generous ceiling: the point is that nothing is expanded
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KiB


def test_large_alias_free_documents_are_read_and_aliases_have_a_small_budget():
    big = "\n".join(f"k{i}: [{i}, {i + 1}, {i + 2}]" for i in range(60_000))  # 240k nodes, no alias
    assert len(load_yaml(big)) == 60_000
    ok = "base: &b {lr: 1, bs: 2}\n" + "\n".join(f"r{i}: *b" for i in range(1000))
    assert load_yaml(ok)["r999"] == {"lr": 1, "bs": 2}
    with pytest.raises(YamlError, match="extra nodes"):
        load_yaml(ok, max_alias_nodes=1000)


def test_a_recursive_alias_is_refused():
    with pytest.raises(YamlError, match="refers to itself"):
        load_yaml("a: &a [1, *a]\n")


def test_files_too_large_binary_or_broken_are_errors_with_hints(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("x: 1\n" * 1000)
    with pytest.raises(YamlError, match="over the 0 MB limit|limit"):
        load_yaml(big, max_bytes=100)
    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"\x00\x01\x02garbage")
    with pytest.raises(YamlError, match="not a text file") as exc:
        load_yaml(binary)
    assert exc.value.hint and exc.value.exit_code == 2
    latin = tmp_path / "l.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(YamlError, match="not UTF-8"):
        load_yaml(latin)
    with pytest.raises(YamlError, match=r"line 2") as exc:
        load_yaml("a: 1\nb: c: d\n", source="plan.yaml")
    assert "plan.yaml is not valid YAML" in exc.value.message
    with pytest.raises(YamlError, match="cannot read"):
        load_yaml(tmp_path / "missing.yaml")
    with pytest.raises(YamlError, match="nested more than 200 levels"):
        load_yaml("[" * 20000 + "]" * 20000)


def test_compose_gives_line_numbers_and_empty_documents_are_none(tmp_path):
    node = compose_yaml("a: 1\nb:\n  c: 2\n")
    assert node.value[1][1].value[0][0].start_mark.line == 2
    assert load_yaml("") is None and load_yaml("# only a comment\n") is None
    f = tmp_path / "x.yaml"
    f.write_bytes(b"\xef\xbb\xbfa: 1\n")  # a BOM, as some editors write
    assert load_yaml(f) == {"a": 1}
