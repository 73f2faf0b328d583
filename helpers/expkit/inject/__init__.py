"""Add W&B logging to an existing training script with LibCST codemods: minimal, idempotent, reversible.

    from expkit.inject import Options, inject_file, revert
    result = inject_file("train.py", Options(project="mnist"), dry_run=True)
    print(result.diff)
"""

from expkit.inject.backup import revert
from expkit.inject.core import CannotInject, Options, Result, inject_file, inject_source

__all__ = ["CannotInject", "Options", "Result", "inject_file", "inject_source", "revert"]
