# karpathy/minGPT projects/adder/adder.py: structure re-typed (imports, entry-point calls, flags), not the original code
import os
import sys
import torch
from mingpt.model import GPT
from mingpt.trainer import Trainer
from mingpt.utils import set_seed, setup_logging, CfgNode as CN
def get_config():
    C = CN()
    return C
if __name__ == '__main__':
    config = get_config()
    config.merge_from_args(sys.argv[1:])
    trainer = Trainer(config.trainer, model, train_dataset)
    trainer.run()
