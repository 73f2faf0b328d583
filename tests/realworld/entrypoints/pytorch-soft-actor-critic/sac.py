# pranz24/pytorch-soft-actor-critic sac.py: structure re-typed (imports, entry-point calls, flags), not the original code
import torch
class SAC(object):
    def update_parameters(self, memory, batch_size, updates):
        qf_loss.backward()
        self.critic_optim.step()
