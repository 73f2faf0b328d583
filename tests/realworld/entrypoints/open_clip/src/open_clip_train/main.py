# mlfoundations/open_clip src/open_clip_train/main.py: structure re-typed (imports, entry-point calls, flags), not the original code
import sys
import torch
import wandb
from open_clip_train.params import parse_args
from open_clip_train.train import train_one_epoch, evaluate
def main(args):
    args = parse_args(args)
    train_one_epoch(model, data, loss, epoch, optimizer, scaler, scheduler, dist_model, args)
if __name__ == '__main__':
    main(sys.argv[1:])
