# sfujim/TD3 TD3.py: structure re-typed (imports, entry-point calls, flags), not the original code
import torch
class TD3(object):
    def train(self, replay_buffer, batch_size=256):
        critic_loss.backward()
        self.critic_optimizer.step()
