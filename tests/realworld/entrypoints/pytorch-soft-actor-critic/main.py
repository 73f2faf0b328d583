# pranz24/pytorch-soft-actor-critic main.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
import gym
import torch
from sac import SAC
from torch.utils.tensorboard import SummaryWriter
parser = argparse.ArgumentParser(description='PyTorch Soft Actor-Critic Args')
parser.add_argument('--env-name', default='HalfCheetah-v2')
parser.add_argument('--alpha', type=float, default=0.2, metavar='G')
args = parser.parse_args()
agent.update_parameters(memory, args.batch_size, updates)
