"""Synthetic datasets with torchvision's signatures: images are uint8 tensors (H, W) or (H, W, C)."""

import os

import torch
from torch.utils.data import Dataset


def _samples(default=64):
    return int(os.environ.get("EXPKIT_SHIM_SAMPLES", str(default)))


class _Images(Dataset):
    def __init__(self, images, targets, transform=None, target_transform=None):
        self.data, self.targets = images, targets
        self.transform, self.target_transform = transform, target_transform

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        img, target = self.data[index], int(self.targets[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target


class MNIST(_Images):
    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        g = torch.Generator().manual_seed(0 if train else 1)
        n = _samples()
        super().__init__(torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g),
                         torch.randint(0, 10, (n,), generator=g), transform, target_transform)
        self.root, self.train = root, train


FashionMNIST = MNIST


class FakeData(_Images):
    def __init__(self, size=1000, image_size=(3, 224, 224), num_classes=10, transform=None, target_transform=None,
                 random_offset=0):
        g = torch.Generator().manual_seed(random_offset)
        n = min(size, _samples())
        c, h, w = image_size
        super().__init__(torch.randint(0, 256, (n, h, w, c), dtype=torch.uint8, generator=g),
                         torch.randint(0, num_classes, (n,), generator=g), transform, target_transform)
