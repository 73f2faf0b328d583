# mlfoundations/open_clip src/open_clip_train/params.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
def parse_args(args):
    parser = argparse.ArgumentParser()
    parser.add_argument('--train-data', type=str, default=None)
    parser.add_argument('--epochs', type=int, default=32)
    return parser.parse_args(args)
