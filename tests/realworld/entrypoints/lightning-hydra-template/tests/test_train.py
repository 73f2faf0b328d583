# ashleve/lightning-hydra-template tests/test_train.py: structure re-typed (imports, entry-point calls, flags), not the original code
import pytest
from src.train import train
def test_train_fast_dev_run(cfg_train):
    train(cfg_train)
