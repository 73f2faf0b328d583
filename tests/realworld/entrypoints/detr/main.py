# facebookresearch/detr main.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
import torch
import util.misc as utils
from engine import evaluate, train_one_epoch
def get_args_parser():
    parser = argparse.ArgumentParser('Set transformer detector', add_help=False)
    parser.add_argument('--lr', default=1e-4, type=float)
    parser.add_argument('--coco_path', type=str)
    return parser
def main(args):
    utils.init_distributed_mode(args)
if __name__ == '__main__':
    parser = argparse.ArgumentParser('DETR training and evaluation script', parents=[get_args_parser()])
    args = parser.parse_args()
    main(args)
