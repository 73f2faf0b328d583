# openai/baselines baselines/run.py: structure re-typed (imports, entry-point calls, flags), not the original code
import sys
from baselines.common.cmd_util import common_arg_parser, parse_unknown_args
import tensorflow as tf
def main(args):
    arg_parser = common_arg_parser()
    args, unknown_args = arg_parser.parse_known_args(args)
    model, env = train(args, extra_args)
if __name__ == '__main__':
    main(sys.argv)
