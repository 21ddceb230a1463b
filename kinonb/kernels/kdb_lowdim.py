"""The low-dim sections of many kinodb ``.kdb`` episodes, gathered in one compiled pass (issue 18 req 4: bulk
ingest), and the camera-count check that says an episode has no images.

A low-dim section is ``num_frames`` packed records of f32[S] state, f32[A] action, f32 reward, u8 is_terminal
(``kinonb/interop/kdb_layout.py``; the floats are unaligned, so they are copied as bytes). The caller passes
sections the reader's index check has placed inside the file, each exactly ``num_frames * (4 (S + A) + 5)``
bytes, and output buffers sized for the frames of every episode; the kernels read nothing else.
"""

from __future__ import annotations

import numpy as np

from .jit import kernel


@kernel
def all_zero(buf: np.ndarray, offsets: np.ndarray, lengths: np.ndarray, out: np.ndarray) -> None:
    """``out[e]``: every byte of ``buf[offsets[e] : offsets[e] + lengths[e]]`` is 0 (for an image section of
    2 bytes a frame: every frame's u16 camera count is 0)."""
    for e in range(len(offsets)):
        acc = np.uint8(0)
        for p in range(offsets[e], offsets[e] + lengths[e]):
            acc |= buf[p]
        out[e] = acc == 0


@kernel
def gather_lowdim(buf: np.ndarray, offsets: np.ndarray, frames: np.ndarray, state_dim: int, action_dim: int,
                  states: np.ndarray, actions: np.ndarray, rewards: np.ndarray, terminal: np.ndarray) -> None:
    """De-interleave the sections at ``offsets`` (``frames[e]`` records each, episode after episode) into
    ``states`` / ``actions`` / ``rewards`` (little-endian f32 bytes, frame after frame) and ``terminal``
    (bool: the byte is not 0)."""
    sb, ab = 4 * state_dim, 4 * action_dim
    rec = sb + ab + 5
    row = 0
    for e in range(len(offsets)):
        src = offsets[e]
        for _ in range(frames[e]):
            s0, a0, r0 = row * sb, row * ab, row * 4
            for k in range(sb):
                states[s0 + k] = buf[src + k]
            for k in range(ab):
                actions[a0 + k] = buf[src + sb + k]
            for k in range(4):
                rewards[r0 + k] = buf[src + sb + ab + k]
            terminal[row] = buf[src + rec - 1] != 0
            src += rec
            row += 1
