"""pyproject promises Python 3.10: nothing in helpers/ may need a newer interpreter."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(120)
def test_vermin_finds_nothing_newer_than_python_3_10_in_helpers():
    vermin = Path(sys.executable).with_name("vermin")
    proc = subprocess.run([str(vermin), "-t=3.10-", "--no-tips", "--violations", "--eval-annotations",
                           str(ROOT / "helpers")], capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_toml_files_are_read_through_tomli_where_tomllib_is_missing(tmp_path):
    """Python 3.10 has no tomllib: block the module and read a pyproject.toml the way expkit does."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["numpy>=1.26"]\n'
                                             '[project.scripts]\ntrain = "pkg.train:main"\n')
    code = textwrap.dedent(f"""
        import sys
        sys.modules["tomllib"] = None  # as on Python 3.10: `import tomllib` raises ModuleNotFoundError
        from pathlib import Path
        from expkit import tomlcompat
        assert tomlcompat.loads.__module__.startswith("tomli"), tomlcompat.loads.__module__
        from expkit.envs.depfiles import _toml
        data = _toml(Path({str(tmp_path / "pyproject.toml")!r}), Path({str(tmp_path / "pyproject.toml")!r}).read_text())
        print(data["project"]["dependencies"])
        from expkit.errors import ExpkitError
        try:
            _toml(Path("bad.toml"), "[project\\n")
        except ExpkitError as exc:
            print("refused:", exc)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT / "helpers"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "['numpy>=1.26']" in proc.stdout
    assert "refused: bad.toml:1: malformed TOML" in proc.stdout


def test_pyproject_declares_the_tomli_backport_for_python_3_10():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'tomli>=1.1; python_version < \\"3.11\\"' in text
