# facebookresearch/detr util/misc.py: structure re-typed (imports, entry-point calls, flags), not the original code
import os
import torch.distributed as dist
def init_distributed_mode(args):
    args.rank = int(os.environ['RANK'])
    args.world_size = int(os.environ['WORLD_SIZE'])
