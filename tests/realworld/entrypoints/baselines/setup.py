# openai/baselines setup.py: structure re-typed (imports, entry-point calls, flags), not the original code
from setuptools import setup, find_packages
setup(name='baselines', packages=[p for p in find_packages() if p.startswith('baselines')])
