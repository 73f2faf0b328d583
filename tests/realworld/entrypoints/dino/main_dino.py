# facebookresearch/dino main_dino.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
import torch
import torch.distributed as dist
import utils
def get_args_parser():
    parser = argparse.ArgumentParser('DINO', add_help=False)
    parser.add_argument('--arch', default='vit_small', type=str)
    parser.add_argument('--data_path', default='/path/to/imagenet/train/', type=str)
    parser.add_argument('--output_dir', default='.', type=str)
    return parser
def train_dino(args):
    utils.init_distributed_mode(args)
    loss.backward()
    optimizer.step()
if __name__ == '__main__':
    parser = argparse.ArgumentParser('DINO', parents=[get_args_parser()])
    args = parser.parse_args()
    train_dino(args)
