# KellerJordan/modded-nanogpt train_gpt.py: structure re-typed (imports, entry-point calls, flags), not the original code
import os
import torch
import torch.distributed as dist
rank = int(os.environ['RANK'])
world_size = int(os.environ['WORLD_SIZE'])
dist.init_process_group(backend='nccl')
loss.backward()
opt.step()
