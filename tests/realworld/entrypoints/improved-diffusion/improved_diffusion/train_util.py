# openai/improved-diffusion improved_diffusion/train_util.py: structure re-typed (imports, entry-point calls, flags), not the original code
import torch as th
import torch.distributed as dist
from torch.nn.parallel.distributed import DistributedDataParallel as DDP
class TrainLoop:
    def run_loop(self):
        self.run_step(batch, cond)
    def forward_backward(self, batch, cond):
        loss.backward()
        self.opt.step()
