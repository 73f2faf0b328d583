"""Transforms on the fake datasets' uint8 tensors (H, W[, C]) and on float tensors (C, H, W)."""

import torch
import torch.nn.functional as F


class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


class ToTensor:
    def __call__(self, img):
        if img.dtype == torch.uint8:
            img = img.unsqueeze(-1) if img.dim() == 2 else img
            return img.permute(2, 0, 1).float().div(255)
        return img


class Normalize:
    def __init__(self, mean, std, inplace=False):
        self.mean, self.std = torch.tensor(mean), torch.tensor(std)

    def __call__(self, x):
        return (x - self.mean.view(-1, 1, 1)) / self.std.view(-1, 1, 1)


class Lambda:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)


def _chw(x):
    if x.dtype == torch.uint8:
        return ToTensor()(x)
    return x


class Resize:
    def __init__(self, size, *args, **kwargs):
        self.size = size

    def __call__(self, x):
        x = _chw(x)
        size = (self.size, self.size) if isinstance(self.size, int) else tuple(self.size)
        if tuple(x.shape[-2:]) == size:
            return x
        return F.interpolate(x.unsqueeze(0), size=size, mode="bilinear", align_corners=False).squeeze(0)


class CenterCrop:
    def __init__(self, size):
        self.size = (size, size) if isinstance(size, int) else tuple(size)

    def __call__(self, x):
        x = _chw(x)
        h, w = x.shape[-2:]
        th, tw = self.size
        top, left = (h - th) // 2, (w - tw) // 2
        return x[..., top:top + th, left:left + tw]
