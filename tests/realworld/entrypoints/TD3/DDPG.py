# sfujim/TD3 DDPG.py: structure re-typed (imports, entry-point calls, flags), not the original code
import torch
class DDPG(object):
    def train(self, replay_buffer, batch_size=64):
        critic_loss.backward()
