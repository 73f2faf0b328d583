# kuangliu/pytorch-cifar models/__init__.py: structure re-typed (imports, entry-point calls, flags), not the original code
from .resnet import *
