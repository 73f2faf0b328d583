# karpathy/nanoGPT bench.py: structure re-typed (imports, entry-point calls, flags), not the original code
import torch
batch_size = 12
exec(open('configurator.py').read())
loss.backward()
