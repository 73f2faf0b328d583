# openai/baselines baselines/common/cmd_util.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
def arg_parser():
    return argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
def common_arg_parser():
    parser = arg_parser()
    parser.add_argument('--env', type=str, default='Reacher-v2')
    parser.add_argument('--alg', type=str, default='ppo2')
    return parser
