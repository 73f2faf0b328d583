# pranz24/pytorch-soft-actor-critic utils.py: structure re-typed (imports, entry-point calls, flags), not the original code
import math
def soft_update(target, source, tau):
    pass
