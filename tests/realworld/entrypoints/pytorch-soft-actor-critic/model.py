# pranz24/pytorch-soft-actor-critic model.py: structure re-typed (imports, entry-point calls, flags), not the original code
import torch.nn as nn
class QNetwork(nn.Module):
    pass
