# kuangliu/pytorch-cifar main.py: structure re-typed (imports, entry-point calls, flags), not the original code
import torch
import torch.optim as optim
import argparse
from models import *
from utils import progress_bar
parser = argparse.ArgumentParser(description='PyTorch CIFAR10 Training')
parser.add_argument('--lr', default=0.1, type=float, help='learning rate')
parser.add_argument('--resume', '-r', action='store_true', help='resume from checkpoint')
args = parser.parse_args()
loss.backward()
optimizer.step()
