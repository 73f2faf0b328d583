# Lightning-AI/deep-learning-project-template setup.py: structure re-typed (imports, entry-point calls, flags), not the original code
from setuptools import setup, find_packages
setup(name='project', packages=find_packages())
