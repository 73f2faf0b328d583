# Lightning-AI/deep-learning-project-template project/lit_mnist.py: structure re-typed (imports, entry-point calls, flags), not the original code
from argparse import ArgumentParser
import pytorch_lightning as pl
def cli_main():
    parser = ArgumentParser()
    args = parser.parse_args()
    trainer = pl.Trainer.from_argparse_args(args)
    trainer.fit(model)
if __name__ == '__main__':
    cli_main()
