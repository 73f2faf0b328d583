# openai/improved-diffusion setup.py: structure re-typed (imports, entry-point calls, flags), not the original code
from setuptools import setup
setup(name='improved-diffusion', py_modules=['improved_diffusion'])
