# pytorch/examples main.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
import torch
import torch.nn.functional as F
from torchvision import datasets, transforms
def train(args, model, device, train_loader, optimizer, epoch):
    loss.backward()
    optimizer.step()
def main():
    parser = argparse.ArgumentParser(description='PyTorch MNIST Example')
    parser.add_argument('--batch-size', type=int, default=64, metavar='N')
    parser.add_argument('--epochs', type=int, default=14, metavar='N')
    parser.add_argument('--save-model', action='store_true', default=False)
    args = parser.parse_args()
if __name__ == '__main__':
    main()
