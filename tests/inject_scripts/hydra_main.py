"""A Hydra app: config from a structured config registered in code (no YAML files needed)."""
from dataclasses import dataclass

import hydra
import torch
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig


@dataclass
class TrainConfig:
    lr: float = 0.05
    steps: int = 5
    width: int = 8


ConfigStore.instance().store(name="config", node=TrainConfig)


@hydra.main(version_base=None, config_name="config")
def main(cfg: DictConfig) -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(cfg.width, 1)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    x, y = torch.randn(16, cfg.width), torch.randn(16, 1)
    for step in range(cfg.steps):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()


if __name__ == "__main__":
    main()
