# DLR-RM/rl-baselines3-zoo rl_zoo3/train.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
import stable_baselines3
def train() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--algo', help='RL Algorithm', default='ppo', type=str)
    parser.add_argument('--env', type=str, default='CartPole-v1')
    args = parser.parse_args()
if __name__ == '__main__':
    train()
