"""expkit: reproducible, observable ML experiment runs.

The Python API is the product; the `expkit` CLI (expkit.cli) is a thin skin over it.
"""

__version__ = "0.1.0"
