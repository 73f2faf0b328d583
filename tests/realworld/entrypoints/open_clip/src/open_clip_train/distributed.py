# mlfoundations/open_clip src/open_clip_train/distributed.py: structure re-typed (imports, entry-point calls, flags), not the original code
import os
import torch.distributed as dist
def init_distributed_device(args):
    args.local_rank = int(os.environ['LOCAL_RANK'])
