# karpathy/nanochat scripts/chat_sft.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
import torch
parser = argparse.ArgumentParser()
parser.add_argument('--run', type=str, default='dummy')
args = parser.parse_args()
loss.backward()
