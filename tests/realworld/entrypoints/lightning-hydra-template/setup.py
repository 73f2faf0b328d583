# ashleve/lightning-hydra-template setup.py: structure re-typed (imports, entry-point calls, flags), not the original code
from setuptools import find_packages, setup
setup(name='src', packages=find_packages(), entry_points={'console_scripts': ['train_command = src.train:main']})
