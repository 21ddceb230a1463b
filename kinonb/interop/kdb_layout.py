"""On-disk structs of kinodb's ``.kdb`` v0.1 format, each defined once as a little-endian numpy dtype.

::

    offset 0      +---------------------------------+
                  | header (64 B)                   |
    offset 64     +---------------------------------+
                  | episode 0: meta blob            |
                  | episode 0: low-dim section      |
                  | episode 0: image section        |
                  | episode 1: ...                  |
    index_offset  +---------------------------------+
                  | index: num_episodes x 64 B      |
                  +---------------------------------+  EOF (in every file kinodb writes)

Header (``HEADER_DTYPE``):

====== ==== ===== ================= ==========================================
offset size type  field             reader checks
====== ==== ===== ================= ==========================================
0      4    S4    magic             MUST be ``KINO``
4      2    <u2   version_major     MUST be 0 (newer -> UnsupportedVersionError)
6      2    <u2   version_minor     any (kinodb writes 1)
8      8    <u8   num_episodes      MUST equal index_length / 64
16     8    <u8   num_frames        MUST equal the sum over index entries
24     8    <u8   index_offset      MUST be >= 64 and index MUST end within the file
32     8    <u8   index_length      MUST be a multiple of 64
40     8    <u8   created_timestamp Unix seconds; not checked
48     16   V16   reserved          written as zeros; not checked
====== ==== ===== ================= ==========================================

Index entry (``INDEX_ENTRY_DTYPE``; note the pair order differs from the file order):

====== ==== ===== ============== ================================================
offset size type  field          reader checks
====== ==== ===== ============== ================================================
0      8    <u8   episode_id     kinodb writes the position
8      4    <u4   num_frames
12     2    <u2   action_dim
14     2    <u2   state_dim      kinodb takes it from frame 0
16     8    <u8   actions_offset each (offset, length) MUST lie in [64, index_offset)
24     8    <u8   actions_length MUST be num_frames * (4 * (state_dim + action_dim) + 5)
32     8    <u8   images_offset
40     8    <u8   images_length  MUST be >= 2 * num_frames
48     8    <u8   meta_offset
56     8    <u8   meta_length    MUST be >= 10
====== ==== ===== ============== ================================================

Meta blob: u16 + utf-8 embodiment, u16 + utf-8 task, f32 fps, u8 success (0 None, 1 False, 2 True),
u8 reward_present (0/1), then f32 total_reward only when present.

Low-dim section: per frame ``lowdim_frame_dtype(S, A)``: f32[S] state, f32[A] action, f32 reward,
u8 is_terminal, packed (the floats are unaligned).

Image section: per frame u16 num_cameras, then per camera ``IMAGE_RECORD_HEAD`` fields preceded by
u16 + utf-8 name: u32 width, u32 height, u8 channels, u8 format (0 raw H*W*C uint8, 1 JPEG/PNG),
u32 data_len, then data_len bytes.
"""

from __future__ import annotations

import functools
import struct

import numpy as np

MAGIC = b"KINO"
VERSION = (0, 1)
HEADER_SIZE = 64
INDEX_ENTRY_SIZE = 64
META_MIN_SIZE = 10  # two empty strings, fps, success, reward_present
FORMAT_RAW = 0
FORMAT_COMPRESSED = 1
MAX_STRING_BYTES = 0xFFFF

HEADER_DTYPE = np.dtype(
    [
        ("magic", "S4"),
        ("version_major", "<u2"),
        ("version_minor", "<u2"),
        ("num_episodes", "<u8"),
        ("num_frames", "<u8"),
        ("index_offset", "<u8"),
        ("index_length", "<u8"),
        ("created_timestamp", "<u8"),
        ("reserved", "V16"),
    ]
)

INDEX_ENTRY_DTYPE = np.dtype(
    [
        ("episode_id", "<u8"),
        ("num_frames", "<u4"),
        ("action_dim", "<u2"),
        ("state_dim", "<u2"),
        ("actions_offset", "<u8"),
        ("actions_length", "<u8"),
        ("images_offset", "<u8"),
        ("images_length", "<u8"),
        ("meta_offset", "<u8"),
        ("meta_length", "<u8"),
    ]
)

# (offset field, length field, section name) in the order the writer lays them out in the file.
SECTIONS = (
    ("meta_offset", "meta_length", "meta"),
    ("actions_offset", "actions_length", "low-dim"),
    ("images_offset", "images_length", "image"),
)

# After the u16-prefixed camera name: width, height, channels, format, data_len.
IMAGE_RECORD_HEAD = struct.Struct("<IIBBI")
U16 = struct.Struct("<H")
F32 = struct.Struct("<f")


@functools.lru_cache(maxsize=256)
def lowdim_frame_dtype(state_dim: int, action_dim: int) -> np.dtype:
    """The packed per-frame record of the low-dim section: 4 * (state_dim + action_dim) + 5 bytes (built once per
    pair: building a structured dtype costs more than reading a small episode)."""
    return np.dtype(
        [
            ("state", "<f4", (int(state_dim),)),
            ("action", "<f4", (int(action_dim),)),
            ("reward", "<f4"),
            ("is_terminal", "u1"),
        ]
    )
