# karpathy/llama2.c sample.py: structure re-typed (imports, entry-point calls, flags), not the original code
import torch
exec(open('configurator.py').read())
