# karpathy/nanochat scripts/base_train.py: structure re-typed (imports, entry-point calls, flags), not the original code
import os
import argparse
import torch
import wandb
from nanochat.common import compute_init
parser = argparse.ArgumentParser(description='Pretrain base model')
parser.add_argument('--depth', type=int, default=20)
parser.add_argument('--run', type=str, default='dummy')
args = parser.parse_args()
loss.backward()
opt.step()
