"""``pil_to_tensor`` as torchvision defines it: a PIL image as a (C, H, W) uint8 tensor, no scaling."""

import numpy as np
import torch


def pil_to_tensor(image):
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()
