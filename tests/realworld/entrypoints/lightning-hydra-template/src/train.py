# ashleve/lightning-hydra-template src/train.py: structure re-typed (imports, entry-point calls, flags), not the original code
import hydra
import lightning as L
from omegaconf import DictConfig
def train(cfg: DictConfig):
    trainer = hydra.utils.instantiate(cfg.trainer)
    trainer.fit(model=model, datamodule=datamodule)
@hydra.main(version_base='1.3', config_path='../configs', config_name='train.yaml')
def main(cfg: DictConfig):
    train(cfg)
if __name__ == '__main__':
    main()
