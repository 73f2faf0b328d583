# SalisMaxima/ct_scan_mlops src/ct_scan_mlops/train.py: structure re-typed (imports, entry-point calls, flags), not the original code
import hydra
import pytorch_lightning as pl
import wandb
from omegaconf import DictConfig
@hydra.main(version_base='1.3', config_path='../../configs', config_name='config')
def train(cfg: DictConfig) -> None:
    trainer = pl.Trainer(max_epochs=cfg.train.max_epochs)
    trainer.fit(model, datamodule=dm)
if __name__ == '__main__':
    train()
