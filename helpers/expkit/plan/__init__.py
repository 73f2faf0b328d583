"""Research plans: research_plan.yaml -> handlers -> results.yaml -> verdicts -> FINDINGS.md.

Handlers import `ExperimentRunner` and `ResultsWriter` from here for type hints; nothing heavy is imported.
"""

from expkit.plan.api import ExperimentRunner, ResultsWriter

__all__ = ["ExperimentRunner", "ResultsWriter"]
