"""A tiny Lightning run on CPU, train and validation losses on the progress bar: the default bar (Rich, when rich
is installed) or `--tqdm` for the TQDM bar."""
import sys

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
x = torch.randn(1024, 8)
y = x @ torch.randn(8, 1) + 0.1 * torch.randn(1024, 1)


class Reg(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Linear(8, 1)

    def training_step(self, batch, _):
        loss = torch.nn.functional.mse_loss(self.net(batch[0]), batch[1])
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch, _):
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(batch[0]), batch[1]), prog_bar=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


bars = [L.pytorch.callbacks.TQDMProgressBar()] if "--tqdm" in sys.argv else []
L.Trainer(max_epochs=4, accelerator="cpu", logger=False, enable_checkpointing=False, callbacks=bars).fit(
    Reg(), DataLoader(TensorDataset(x[:896], y[:896]), batch_size=16), DataLoader(TensorDataset(x[896:], y[896:]), batch_size=32))
