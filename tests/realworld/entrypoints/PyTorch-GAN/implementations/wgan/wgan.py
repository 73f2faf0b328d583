# eriklindernoren/PyTorch-GAN implementations/wgan/wgan.py: structure re-typed (imports, entry-point calls, flags), not the original code
import argparse
import os
import torch
parser = argparse.ArgumentParser()
parser.add_argument('--n_epochs', type=int, default=200, help='number of epochs of training')
parser.add_argument('--lr', type=float, default=0.0002)
opt = parser.parse_args()
g_loss.backward()
optimizer_G.step()
