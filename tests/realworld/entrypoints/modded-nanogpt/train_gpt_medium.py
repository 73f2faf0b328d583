# KellerJordan/modded-nanogpt train_gpt_medium.py: structure re-typed (imports, entry-point calls, flags), not the original code
import os
import torch
import torch.distributed as dist
rank = int(os.environ['RANK'])
dist.init_process_group(backend='nccl')
loss.backward()
