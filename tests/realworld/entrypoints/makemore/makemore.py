# karpathy/makemore makemore.py: structure re-typed (imports, entry-point calls, flags), not the original code
import os
import sys
import argparse
import torch
from torch.utils.tensorboard import SummaryWriter
if __name__ == '__main__':
    parser = argparse.ArgumentParser(description='Make More')
    parser.add_argument('--input-file', '-i', type=str, default='input.txt')
    parser.add_argument('--work-dir', '-o', type=str, default='out')
    args = parser.parse_args()
    loss.backward()
    optimizer.step()
