"""Batched reads of low-dim keys: one compiled call per key per batch.

- a key of one width, per-frame or stream (anchors for its frames): :func:`kinonb.kernels.gather_windows`,
  the path every fixed-width key has always taken;
- a padded key (mixed widths, or named in ``pad_dims``): :func:`kinonb.kernels.padded.gather_padded`, plus
  ``{key}_dim_mask``;
- grid samples (``rate=``): :func:`kinonb.kernels.latest.gather_latest`, latest-at search and copy in one.
"""

from __future__ import annotations

import numpy as np

from ..kernels import gather_windows
from ..kernels.latest import TIME_TOLERANCE, gather_latest
from ..kernels.padded import gather_padded
from .keys import Key
from .outputs import output_array


def _output(key: Key, b: int, width: int | None, given):
    shape = key.shape if width is None else (*key.shape[:-1], width)
    w = len(key.offsets)
    return output_array(given, (b, w, *shape), key.column.dtype, f"out[{key.name!r}]"), np.empty((b, w), np.bool_)


def read_frames(key: Key, ids, sample_ep, sample_t, given) -> dict:
    """Frame samples: ``{name, name_is_pad[, name_dim_mask]}`` for key ``key``."""
    b, w = len(sample_ep), len(key.offsets)
    t = sample_t if key.anchors is None else key.anchors.anchor[ids]
    out = {}
    if not key.padded:
        result, is_pad = _output(key, b, None, given)
        gather_windows(key.flat, key.ep_start, key.ep_len, key.row_elems, sample_ep, t, key.offsets,
                       result.reshape(b, w, key.row_elems), is_pad)
    else:
        widths = key.widths
        width = widths.batch_width(sample_ep)
        result, is_pad = _output(key, b, width, given)
        gather_padded(key.flat, key.ep_start, key.ep_len, widths.dims, widths.lead, width, sample_ep, t,
                      key.offsets, key.zero, result.reshape(b, w, widths.lead * width), is_pad)
        out[f"{key.name}_dim_mask"] = widths.mask(sample_ep, width)
    if key.anchors is not None:
        key.anchors.pad_stale(ids, key.offsets, is_pad)
    out[key.name] = result
    out[f"{key.name}_is_pad"] = is_pad
    return out


class Grid:
    """The fixed-rate grid of an index: per episode (positions in the index) ``t0``, last frame time, rate."""

    def __init__(self, t0: np.ndarray, t_end: np.ndarray, hz: float, max_stale: float):
        self.t0, self.t_end, self.hz, self.max_stale = t0, t_end, hz, max_stale

    def times(self, sample_ep, sample_k) -> np.ndarray:
        """Grid time of each sample (the kernel's formula, so the same bits)."""
        return self.t0[sample_ep] + sample_k.astype(np.float64) / self.hz


def read_grid(key: Key, grid: Grid, sample_ep, sample_k, given) -> dict:
    """Grid samples: every entry latest-at (see :mod:`kinonb.sampling.streams`)."""
    b, w = len(sample_ep), len(key.offsets)
    widths = key.widths
    width = widths.batch_width(sample_ep) if key.padded else (key.shape[-1] if key.shape else 1)
    result, is_pad = _output(key, b, width if key.padded else None, given)
    seg = key.times
    gather_latest(key.flat, key.ep_start, widths.dims, widths.lead, width, seg.times, seg.start, seg.length,
                  grid.t0, grid.t_end, grid.hz, TIME_TOLERANCE, grid.max_stale, sample_ep, sample_k, key.offsets,
                  key.zero, result.reshape(b, w, widths.lead * width), is_pad)
    out = {key.name: result, f"{key.name}_is_pad": is_pad}
    if key.padded:
        out[f"{key.name}_dim_mask"] = widths.mask(sample_ep, width)
    return out
