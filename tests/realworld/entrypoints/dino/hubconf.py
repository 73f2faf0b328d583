# facebookresearch/dino hubconf.py: structure re-typed (imports, entry-point calls, flags), not the original code
import torch
dependencies = ['torch', 'torchvision']
