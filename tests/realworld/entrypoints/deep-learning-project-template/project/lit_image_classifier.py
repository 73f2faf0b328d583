# Lightning-AI/deep-learning-project-template project/lit_image_classifier.py: structure re-typed (imports, entry-point calls, flags), not the original code
from argparse import ArgumentParser
import torch
import pytorch_lightning as pl
from torchvision.datasets.mnist import MNIST
class LitClassifier(pl.LightningModule):
    def training_step(self, batch, batch_idx):
        pass
def cli_main():
    parser = ArgumentParser()
    parser.add_argument('--batch_size', default=32, type=int)
    parser.add_argument('--hidden_dim', type=int, default=128)
    parser = pl.Trainer.add_argparse_args(parser)
    args = parser.parse_args()
    trainer = pl.Trainer.from_argparse_args(args)
    trainer.fit(model, train_loader, val_loader)
if __name__ == '__main__':
    cli_main()
