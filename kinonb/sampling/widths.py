"""Keys whose last per-frame axis differs between episodes (robots of other action or state widths).

Only the last axis may differ; a batch comes zero-padded on it to the widest episode of the batch
(``pad_dims=None``, the default) or to a fixed ``pad_dims={key: width}``, with ``{key}_dim_mask`` ``(B, width)``
bool, True on real entries (the convention of :func:`kinonb.torch.pad_collate`). ``pad_dims=False`` refuses
such keys. A key of one width that ``pad_dims`` does not name reads exactly as before: no mask.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

from ..errors import ArgumentTypeError, InvalidArgumentError


@dataclass(frozen=True)
class Widths:
    """How one key's rows are laid out: ``lead`` elements per row before the last axis, ``dims[e]`` on the
    last axis per episode, ``width`` the fixed padded width (None: the batch's widest), ``padded`` whether
    batches come padded with a mask."""

    shape: tuple  # per-frame shape with the last axis of the first episode (padded keys: replaced per batch)
    lead: int
    dims: np.ndarray  # int64 (E,)
    width: int | None
    padded: bool

    def batch_width(self, sample_ep: np.ndarray) -> int:
        if self.width is not None:
            return self.width
        return int(self.dims[sample_ep].max()) if len(sample_ep) else int(self.dims.max(initial=0))

    def mask(self, sample_ep: np.ndarray, width: int) -> np.ndarray:
        """``{key}_dim_mask``: bool ``(B, width)``, True on each sample's real entries."""
        return np.arange(width)[None, :] < self.dims[sample_ep][:, None]


def check_pad_dims(pad_dims, keys) -> dict | bool | None:
    """``None``, ``False`` or ``{key: positive int}`` naming keys of ``windows``."""
    if pad_dims is None or pad_dims is False:
        return pad_dims
    if not isinstance(pad_dims, dict):
        raise ArgumentTypeError(f"pad_dims must be None, False or a dict {{key: width}}, got {pad_dims!r}")
    out = {}
    for k, v in pad_dims.items():
        if k not in keys:
            raise InvalidArgumentError(f"pad_dims names {k!r}, which is not a key of windows ({list(keys)})")
        try:
            if isinstance(v, bool):
                raise TypeError
            out[k] = operator.index(v)
        except TypeError:
            raise InvalidArgumentError(f"pad_dims[{k!r}] must be a positive int width, got {v!r}") from None
        if out[k] <= 0:
            raise InvalidArgumentError(f"pad_dims[{k!r}] must be a positive int width, got {v!r}")
    return out


def key_widths(name: str, column_shape: tuple, shapes, pad_dims, episodes: np.ndarray) -> Widths:
    """The :class:`Widths` of key ``name`` over ``episodes`` (file positions, for messages): ``shapes`` is the
    ``ColumnBlocks.shapes`` (None: ``column_shape`` for all)."""
    n = len(episodes)
    if shapes is None or n == 0:
        shape = tuple(column_shape)
        dims = np.full(n, shape[-1] if shape else 1, np.int64)
    else:
        shapes = np.asarray(shapes, np.int64).reshape(n, -1)
        firsts = {tuple(s) for s in shapes[:, :-1].tolist()}
        if len(firsts) > 1:
            found = sorted({tuple(s) for s in shapes.tolist()})
            raise InvalidArgumentError(f"key {name!r}: per-frame shapes {found} differ before the last axis; only "
                                       f"the last axis may differ between episodes (filter episodes with "
                                       f"episodes=db.query(...))")
        shape = tuple(int(s) for s in shapes[0])
        dims = shapes[:, -1].copy() if shape else np.ones(n, np.int64)
    lead = int(np.prod(shape[:-1], dtype=np.int64)) if shape else 1
    found = np.unique(dims)
    fixed = pad_dims.get(name) if isinstance(pad_dims, dict) else None
    if fixed is not None:
        if not shape:
            raise InvalidArgumentError(f"pad_dims[{name!r}]: {name!r} has scalar frames, no axis to pad")
        if len(dims) and dims.max() > fixed:
            wide = int(episodes[int(np.argmax(dims))])
            raise InvalidArgumentError(f"pad_dims[{name!r}] = {fixed}, but episode {wide} has width "
                                       f"{int(dims.max())} (widths found: {found.tolist()})")
        return Widths(shape, lead, dims, fixed, True)
    if len(found) > 1:
        if pad_dims is False:
            raise InvalidArgumentError(f"key {name!r} has widths {found.tolist()} across the episodes "
                                       f"(last axis); pad_dims=False refuses to pad: pass pad_dims=None (the "
                                       f"batch's widest) or {{{name!r}: {int(found.max())}}}, or filter episodes")
        return Widths(shape, lead, dims, None, True)
    return Widths(shape, lead, dims, None, False)
