# kuangliu/pytorch-cifar models/resnet.py: structure re-typed (imports, entry-point calls, flags), not the original code
import torch.nn as nn
class ResNet(nn.Module):
    pass
