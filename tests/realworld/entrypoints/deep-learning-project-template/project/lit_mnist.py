# Lightning-AI/deep-learning-project-template project/lit_mnist.py: structure re-typed (imports, entry-point calls, flags), not the original code
from argparse import ArgumentParser
import pytorch_lightning as pl
def cli_main():
    parser = ArgumentParser()
    parser = pl.Trainer.add_argparse_args(parser)
    args = parser.parse_args()
    trainer = pl.Trainer.from_argparse_args(args)
    trainer.fit(model, train_loader, val_loader)
if __name__ == '__main__':
    cli_main()
