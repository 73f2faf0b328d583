# mlfoundations/open_clip src/open_clip/model.py: structure re-typed (imports, entry-point calls, flags), not the original code
import torch
class CLIP(torch.nn.Module):
    pass
