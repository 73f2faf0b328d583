"""`python -m expkit.plan.worker [RUN_DIR]`: run one sub-experiment where the expkit package is importable (the
Modal image ships it). Everything it does is in the plan runtime (expkit.plan.runtime.expkit_plan_runtime), which
local and Slurm runs start by path in the project's Python instead.
"""

from __future__ import annotations

import sys

from expkit.plan.runtime.expkit_plan_runtime import JOB, RESULT, STUB_NOTE, main, run_job, write_json_fast

__all__ = ["JOB", "RESULT", "STUB_NOTE", "main", "run_job", "write_json_fast"]

if __name__ == "__main__":
    sys.exit(main())
