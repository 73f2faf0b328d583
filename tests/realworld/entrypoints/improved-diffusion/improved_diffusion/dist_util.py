# openai/improved-diffusion improved_diffusion/dist_util.py: structure re-typed (imports, entry-point calls, flags), not the original code
import os
from mpi4py import MPI
import torch.distributed as dist
def setup_dist():
    dist.init_process_group(backend='nccl', init_method='env://')
