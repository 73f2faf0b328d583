"""The package's shape: dependencies point one way (no import cycles) and no module borrows another's private
names. Checked with the project's import-graph tool (shared/tools/import-graph beside the repository)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT.parent / "shared" / "tools" / "import-graph"


@pytest.mark.timeout(60)
@pytest.mark.skipif(not TOOL.is_file(), reason=f"the import-graph tool is not at {TOOL}")
def test_no_import_cycles_and_no_private_names_across_modules():
    out = subprocess.run([sys.executable, str(TOOL), "helpers/expkit"], cwd=ROOT, capture_output=True, text=True,
                         timeout=50)
    summary = out.stdout.splitlines()[0] if out.stdout else out.stderr
    assert " 0 cycle(s), 0 private import(s)" in summary, out.stdout + out.stderr
    assert out.returncode == 0
