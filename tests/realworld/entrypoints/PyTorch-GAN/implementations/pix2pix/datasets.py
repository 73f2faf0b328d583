# eriklindernoren/PyTorch-GAN implementations/pix2pix/datasets.py: structure re-typed (imports, entry-point calls, flags), not the original code
from torch.utils.data import Dataset
class ImageDataset(Dataset):
    pass
