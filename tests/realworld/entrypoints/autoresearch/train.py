# karpathy/autoresearch train.py: structure re-typed (imports, entry-point calls, flags), not the original code
"""Single-GPU pretraining script. Usage: uv run train.py"""
import os
import time
import torch
import torch.nn.functional as F
from prepare import MAX_SEQ_LEN, TIME_BUDGET, Tokenizer
DEPTH = 8
TOTAL_BATCH_SIZE = 2**19
MATRIX_LR = 0.04
loss.backward()
optimizer.step()
print(f'val_bpb: {val_bpb:.6f}')
