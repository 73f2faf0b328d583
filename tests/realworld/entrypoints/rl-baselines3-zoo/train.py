# DLR-RM/rl-baselines3-zoo train.py: structure re-typed (imports, entry-point calls, flags), not the original code
from rl_zoo3.train import train
if __name__ == '__main__':
    train()
