"""A batch that leaves a DataLoader worker as one shared-memory block, not one per tensor.

torch sends each tensor of a worker's batch through its own shared-memory segment and file descriptor; for
window batches of a few hundred samples that costs several times the read (here ~0.5 ms per tensor, 7-9
tensors a batch). :class:`SharedBatch` pickles its tensors as views of one uint8 block (copied once, 64-byte
aligned), so a batch costs one segment; the other values (strings, numbers) pickle as usual. Unpickled, it is
a plain ``dict`` whose tensors are views of that block.
"""

from __future__ import annotations

import math

import torch

ALIGN = 64


class SharedBatch(dict):
    """A batch dict that pickles its CPU tensors as one block (see the module docstring)."""

    def __reduce__(self):
        layout, rest, size = [], {}, 0
        for key, value in self.items():
            if isinstance(value, torch.Tensor) and value.device.type == "cpu" and value.layout == torch.strided \
                    and not value.requires_grad:
                size = -(-size // ALIGN) * ALIGN
                layout.append((key, size, value.dtype, tuple(value.shape)))
                size += value.numel() * value.element_size()
            else:
                rest[key] = value
        block = torch.empty(size, dtype=torch.uint8)
        for key, offset, dtype, shape in layout:
            _view(block, offset, dtype, shape).copy_(self[key])
        return _unpack, (block, layout, rest, list(self))


def _view(block: torch.Tensor, offset: int, dtype, shape: tuple) -> torch.Tensor:
    nbytes = math.prod(shape) * torch.empty(0, dtype=dtype).element_size()
    return block[offset: offset + nbytes].view(dtype).view(shape)


def _unpack(block: torch.Tensor, layout: list, rest: dict, keys: list) -> dict:
    views = {key: _view(block, offset, dtype, shape) for key, offset, dtype, shape in layout}
    return {key: views[key] if key in views else rest[key] for key in keys}
