"""Batches read in parts (one per file of a mixture or per shard of a dataset) -> one batch in the caller's order.

Torch-free: :class:`kinonb.interop.dataset.ShardedSampleIndex` merges its shards' parts here, and the torch
layer its mixture sources' (:func:`kinonb.torch.convert.merge_parts` is this function).
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError


def pad_last(value: np.ndarray, width: int) -> np.ndarray:
    """Zero-pad the last axis of ``value`` to ``width`` (``value`` itself when already that wide)."""
    d = value.shape[-1]
    if d == width:
        return value
    if d > width:
        raise InvalidArgumentError(f"cannot pad a last axis of {d} down to {width}")
    out = np.zeros((*value.shape[:-1], width), value.dtype)
    out[..., :d] = value
    return out


def width_mask(dims, width: int) -> np.ndarray:
    """Bool ``(len(dims), width)``: row ``i`` is True on its first ``dims[i]`` entries (the real ones)."""
    return np.arange(width)[None, :] < np.asarray(dims, np.int64).reshape(-1, 1)


def own_masks(parts: list, dims: dict) -> dict:
    """``dims`` plus the keys a part padded itself (``{key}_dim_mask`` in its batch: mixed widths within a
    file), at the widest of the parts."""
    dims = dict(dims)
    for p in parts:
        for key in p:
            base = key[: -len("_dim_mask")]
            if key.endswith("_dim_mask") and base in p:
                dims[base] = max(dims.get(base, 0), *(q[base].shape[-1] for q in parts))
    return dims


def merge_parts(parts: list, rows: list, dims: dict) -> dict:
    """Batches read per part -> one batch.

    ``parts[j]`` is a batch dict; ``rows[j]`` the positions its samples take in the merged batch. Keys in
    ``dims`` (and keys a part already padded) are zero-padded on their last axis to ``dims[key]`` and get
    ``{key}_dim_mask`` (a part's own mask kept, padded with False).
    """
    if len(parts) == 1 and not dims:
        return parts[0]
    dims = own_masks(parts, dims)
    n = sum(len(r) for r in rows)
    where = np.concatenate(rows)
    order = np.empty(n, np.int64)
    order[where] = np.arange(n)
    out = {}
    for key in parts[0]:
        if key.endswith("_dim_mask") and key[: -len("_dim_mask")] in dims:
            continue
        values = [p[key] for p in parts]
        if key in dims:
            masks = [p.get(f"{key}_dim_mask") for p in parts]
            masks = [width_mask(np.full(len(v), v.shape[-1]), v.shape[-1]) if m is None else m
                     for m, v in zip(masks, values)]
            out[f"{key}_dim_mask"] = np.concatenate([pad_last(m, dims[key]) for m in masks])[order]
            values = [pad_last(v, dims[key]) for v in values]
        shapes = {v.shape[1:] for v in values}
        if len(shapes) > 1:
            raise InvalidArgumentError(f"parts give {key!r} different shapes {sorted(shapes)}; "
                                       f"set image_size for cameras, or use matching windows")
        out[key] = np.concatenate(values)[order]
    return out
