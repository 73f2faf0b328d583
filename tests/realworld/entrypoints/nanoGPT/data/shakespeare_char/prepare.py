# karpathy/nanoGPT data/shakespeare_char/prepare.py: structure re-typed (imports, entry-point calls, flags), not the original code
import os
import pickle
import numpy as np
data = open('input.txt').read()
