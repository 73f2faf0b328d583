# karpathy/minGPT setup.py: structure re-typed (imports, entry-point calls, flags), not the original code
from setuptools import setup
setup(name='minGPT', packages=['mingpt'])
