# vwxyzjn/cleanrl cleanrl/sac_continuous_action.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
import gym
import torch
from torch.utils.tensorboard import SummaryWriter
def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--env-id', type=str, default='CartPole-v1')
    parser.add_argument('--total-timesteps', type=int, default=500000)
    parser.add_argument('--track', type=lambda x: bool(x), default=False)
    return parser.parse_args()
if __name__ == '__main__':
    args = parse_args()
    loss.backward()
    optimizer.step()
