# pranz24/pytorch-soft-actor-critic replay_memory.py: structure re-typed (imports, entry-point calls, flags), not the original code
import random
class ReplayMemory:
    pass
