# mlfoundations/open_clip src/open_clip_train/train.py: structure re-typed (imports, entry-point calls, flags), not the original code
import torch
def train_one_epoch(model, data, loss, epoch, optimizer, scaler, scheduler, dist_model, args, tb_writer=None):
    total_loss.backward()
    optimizer.step()
