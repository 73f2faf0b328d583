# eriklindernoren/PyTorch-GAN implementations/pix2pix/models.py: structure re-typed (imports, entry-point calls, flags), not the original code
import torch.nn as nn
class GeneratorUNet(nn.Module):
    pass
