# kuangliu/pytorch-cifar utils.py: structure re-typed (imports, entry-point calls, flags), not the original code
import os
import sys
import time
def progress_bar(current, total, msg=None):
    pass
