# facebookresearch/dino eval_knn.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
import torch
import torch.distributed as dist
if __name__ == '__main__':
    parser = argparse.ArgumentParser('Evaluation with weighted k-NN on ImageNet')
    args = parser.parse_args()
