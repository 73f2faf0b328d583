# sfujim/TD3 main.py: structure re-typed (imports, entry-point calls, flags), not the original code
import numpy as np
import torch
import gym
import argparse
import os
import utils
import TD3
import OurDDPG
import DDPG
if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('--policy', default='TD3')
    parser.add_argument('--env', default='HalfCheetah-v2')
    parser.add_argument('--seed', default=0, type=int)
    args = parser.parse_args()
    policy.train(replay_buffer, args.batch_size)
