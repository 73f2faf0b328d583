# karpathy/llama2.c train.py: structure re-typed (imports, entry-point calls, flags), not the original code
import os
import torch
from torch.distributed import init_process_group
batch_size = 128
exec(open('configurator.py').read())
loss.backward()
