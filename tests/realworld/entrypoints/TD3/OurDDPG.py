# sfujim/TD3 OurDDPG.py: structure re-typed (imports, entry-point calls, flags), not the original code
import torch
class DDPG(object):
    pass
