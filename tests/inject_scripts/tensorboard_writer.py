"""Logs with TensorBoard's SummaryWriter; argparse config."""
import argparse

import torch
from torch.utils.tensorboard import SummaryWriter


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--logdir", default="tb")
    args = parser.parse_args()
    writer = SummaryWriter(args.logdir)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr)
    x, y = torch.randn(16, 3), torch.randn(16, 1)
    for step in range(args.steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        writer.add_scalar("loss", loss.item(), step)
    writer.close()


if __name__ == "__main__":
    main()
