"""Every on-disk struct of the .knb format, defined once as a little-endian structured dtype.

format_spec.md documents each of them in a table; tests/test_layout.py holds these dtypes against those tables.
"""

from __future__ import annotations

import zlib

import numpy as np

FORMAT_MAJOR = 1
FORMAT_MINOR = 0
#: Versions this reader knows, newest last. A file with a newer major is rejected; a newer minor is read.
VERSIONS = {(1, 0): "initial release: header, blocks, footer, trailer, per-chunk index checksums"}

ALIGNMENT = 64
HEADER_MAGIC = b"\x89KNB\r\n\x1a\n"
FOOTER_MAGIC = b"KNBFOOTR"
TRAILER_MAGIC = b"KNBTRAIL"
CHUNK_EPISODES = 4096
#: Most frames one episode may have (keeps every size product far below 2**64).
MAX_FRAMES = 1 << 40
#: Largest frame of one column, in bytes; larger ones are rejected as forged (16k x 16k x 16 is 4 GiB).
MAX_FRAME_NBYTES = 1 << 32
#: Most footer sections a reader accepts (a newer minor version may add sections after the known ones).
MAX_SECTIONS = 64

HEADER = np.dtype(
    [
        ("magic", "S8"),
        ("major", "<u2"),
        ("minor", "<u2"),
        ("header_size", "<u4"),
        ("alignment", "<u4"),
        ("flags", "<u4"),
        ("reserved", "u1", (36,)),
        ("crc32", "<u4"),
    ]
)

TRAILER = np.dtype(
    [
        ("magic", "S8"),
        ("major", "<u2"),
        ("minor", "<u2"),
        ("reserved0", "<u4"),
        ("footer_offset", "<u8"),
        ("footer_length", "<u8"),
        ("commit_seq", "<u8"),
        ("num_episodes", "<u8"),
        ("footer_header_crc32", "<u4"),
        ("reserved1", "u1", (8,)),
        ("crc32", "<u4"),
    ]
)

FOOTER_HEADER = np.dtype(
    [
        ("magic", "S8"),
        ("num_episodes", "<u8"),
        ("num_frames", "<u8"),
        ("num_columns", "<u4"),
        ("num_strings", "<u4"),
        ("chunk_episodes", "<u4"),
        ("num_sections", "<u4"),
        ("reserved", "u1", (24,)),
    ]
)

SECTION = np.dtype(
    [
        ("offset", "<u8"),
        ("length", "<u8"),
        ("count", "<u8"),
        ("crc32", "<u4"),
        ("reserved", "<u4"),
    ]
)

#: Footer sections, in the order their SECTION records appear and their bytes are laid out.
SECTION_NAMES = (
    "columns",
    "string_offsets",
    "string_heap",
    "episodes",
    "blocks",
    "attrs_heap",
    "stats",
    "chunk_crcs",
)
#: Sections whose bytes are covered by chunk_crcs instead of their own SECTION.crc32 (which is 0).
CHUNKED_SECTIONS = ("episodes", "blocks")

COLUMN = np.dtype(
    [
        ("name_id", "<u4"),
        ("role", "u1"),
        ("codec", "u1"),
        ("ndim", "u1"),
        ("reserved0", "u1"),
        ("dtype", "S8"),
        ("shape", "<u8", (4,)),
        ("frame_nbytes", "<u8"),
        ("reserved1", "u1", (8,)),
    ]
)

EPISODE = np.dtype(
    [
        ("episode_id", "<u8"),
        ("num_frames", "<u8"),
        ("frame_start", "<u8"),
        ("fps", "<f8"),
        ("total_reward", "<f8"),
        ("task_id", "<u4"),
        ("embodiment_id", "<u4"),
        ("attrs_offset", "<u8"),
        ("attrs_length", "<u4"),
        ("success", "u1"),
        ("flags", "u1"),
        ("reserved", "u1", (2,)),
    ]
)

BLOCK = np.dtype(
    [
        ("offset", "<u8"),
        ("nbytes", "<u8"),
        ("crc32", "<u4"),
        ("flags", "<u4"),
    ]
)

STAT = np.dtype(
    [
        ("count", "<u8"),
        ("nan_count", "<u8"),
        ("inf_count", "<u8"),
        ("min", "<f8"),
        ("max", "<f8"),
        ("mean", "<f8"),
        ("m2", "<f8"),
        ("reserved", "u1", (8,)),
    ]
)

#: Every struct with its name in format_spec.md.
STRUCTS = {
    "HEADER": HEADER,
    "TRAILER": TRAILER,
    "FOOTER_HEADER": FOOTER_HEADER,
    "SECTION": SECTION,
    "COLUMN": COLUMN,
    "EPISODE": EPISODE,
    "BLOCK": BLOCK,
    "STAT": STAT,
}

# EPISODE.success: the codes of kinonb/format/success.py
# EPISODE.flags
EPISODE_HAS_REWARD = 0x1
# BLOCK.flags
BLOCK_PRESENT = 0x1

# COLUMN.role
ROLE_ACTIONS, ROLE_STATES, ROLE_REWARDS, ROLE_IS_TERMINAL, ROLE_CAMERA, ROLE_EXTRA = range(6)
ROLE_NAMES = ("actions", "states", "rewards", "is_terminal", "camera", "extra")
# COLUMN.codec
CODEC_RAW, CODEC_LZ4_FRAMES = 0, 1
CODEC_NAMES = ("raw", "lz4")

#: dtypes a column may hold, as stored in COLUMN.dtype.
ALLOWED_DTYPES = tuple(
    np.dtype(s).str.encode()
    for s in ("|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8")
)
MAX_NDIM = 4


def crc32(data, value: int = 0) -> int:
    """CRC-32 (ISO-HDLC, the zlib/PNG polynomial) of a bytes-like object."""
    return zlib.crc32(data, value) & 0xFFFFFFFF


def align_up(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
