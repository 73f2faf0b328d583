# ikostrikov/pytorch-a2c-ppo-acktr-gail a2c_ppo_acktr/arguments.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
def get_args():
    parser = argparse.ArgumentParser(description='RL')
    parser.add_argument('--algo', default='a2c')
    return parser.parse_args()
