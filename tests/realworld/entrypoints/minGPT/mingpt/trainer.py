# karpathy/minGPT mingpt/trainer.py: structure re-typed (imports, entry-point calls, flags), not the original code
import torch
class Trainer:
    def run(self):
        self.loss.backward()
        self.optimizer.step()
