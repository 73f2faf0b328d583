# facebookresearch/detr engine.py: structure re-typed (imports, entry-point calls, flags), not the original code
import torch
def train_one_epoch(model, criterion, data_loader, optimizer, device, epoch):
    losses.backward()
    optimizer.step()
