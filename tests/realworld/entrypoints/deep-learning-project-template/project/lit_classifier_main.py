# Lightning-AI/deep-learning-project-template project/lit_classifier_main.py: structure re-typed (imports, entry-point calls, flags), not the original code
from argparse import ArgumentParser
import torch
import pytorch_lightning as pl
class LitClassifier(pl.LightningModule):
    pass
def cli_main():
    parser = ArgumentParser()
    parser.add_argument('--batch_size', default=32, type=int)
    parser = pl.Trainer.add_argparse_args(parser)
    args = parser.parse_args()
    trainer = pl.Trainer.from_argparse_args(args)
    trainer.fit(model, train_loader, val_loader)
if __name__ == '__main__':
    cli_main()
