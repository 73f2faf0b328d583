# karpathy/nanoGPT model.py: structure re-typed (imports, entry-point calls, flags), not the original code
import torch
class GPT(torch.nn.Module):
    pass
