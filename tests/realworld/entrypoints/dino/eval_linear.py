# facebookresearch/dino eval_linear.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
import torch
def eval_linear(args):
    loss.backward()
    optimizer.step()
if __name__ == '__main__':
    parser = argparse.ArgumentParser('Evaluation with linear classification on ImageNet')
    args = parser.parse_args()
