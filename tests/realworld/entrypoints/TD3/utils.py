# sfujim/TD3 utils.py: structure re-typed (imports, entry-point calls, flags), not the original code
import numpy as np
class ReplayBuffer(object):
    pass
