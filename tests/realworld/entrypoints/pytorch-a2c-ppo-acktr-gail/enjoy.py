# ikostrikov/pytorch-a2c-ppo-acktr-gail enjoy.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
import torch
parser = argparse.ArgumentParser(description='RL')
parser.add_argument('--env-name', default='PongNoFrameskip-v4')
args = parser.parse_args()
