# karpathy/nanoGPT train.py: structure re-typed (imports, entry-point calls, flags), not the original code
import os
import torch
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.distributed import init_process_group
out_dir = 'out'
eval_interval = 2000
learning_rate = 6e-4
config_keys = [k for k,v in globals().items() if not k.startswith('_')]
exec(open('configurator.py').read()) # overrides from command line or config file
ddp = int(os.environ.get('RANK', -1)) != -1
init_process_group(backend='nccl')
scaler.scale(loss).backward()
optimizer.zero_grad(set_to_none=True)
