"""Every on-disk struct of the .knb format, defined once as a little-endian structured dtype.

format_spec.md documents each of them in a table; tests/test_layout.py holds these dtypes against those tables.
"""

from __future__ import annotations

import functools
import struct
import zlib

import numpy as np

FORMAT_MAJOR = 1
#: The newest minor this code reads and writes. A commit says in its trailer which minor it needs: 0 when it
#: uses only 1.0 features (its bytes are exactly a 1.0 writer's), 1 when it uses any 1.1 feature, 2 when it is an
#: edit (it removes, relabels or replaces what an earlier commit wrote, and says so in its commit_info section).
FORMAT_MINOR = 2
#: Versions this reader knows, newest last. A file with a newer major is rejected; a newer minor is read.
VERSIONS = {
    (1, 0): "initial release: header, blocks, footer, trailer, per-chunk index checksums",
    (1, 1): "per-episode shapes and frame counts (block_shapes), float16/float64 fixed roles, optional actions, "
            "timestamps, streams, episode arrays, recorded casts, jpeg and video cameras",
    (1, 2): "edit commits (delete, relabel, annotate, add a column, trim) with a `commit_info` section; reading "
            "earlier commits",
}

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
#: Sections a 1.1 commit adds after the 1.0 ones when it stores per-block shapes (num_sections = 9).
SECTION_NAMES_1_1 = (*SECTION_NAMES, "block_shapes")
#: Sections of a 1.2 edit commit (num_sections = 10); its block_shapes section may be empty (count 0: no column
#: needs per-block shapes).
SECTION_NAMES_1_2 = (*SECTION_NAMES_1_1, "commit_info")
#: Sections whose bytes are covered by chunk_crcs instead of their own SECTION.crc32 (which is 0).
CHUNKED_SECTIONS = ("episodes", "blocks", "block_shapes")

COLUMN = np.dtype(
    [
        ("name_id", "<u4"),
        ("role", "u1"),
        ("codec", "u1"),
        ("ndim", "u1"),
        ("flags", "u1"),
        ("dtype", "S8"),
        ("shape", "<u8", (4,)),
        ("frame_nbytes", "<u8"),
        ("source_dtype", "S8"),
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

#: 1.1: the frame count and per-frame shape of one block (section block_shapes, one per BLOCK row).
BLOCK_SHAPE = np.dtype(
    [
        ("num_frames", "<u8"),
        ("shape", "<u8", (4,)),
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

#: 1.1: the header at the start of a video camera block (format_spec.md §7.4).
VIDEO_HEADER = np.dtype(
    [
        ("codec", "S16"),
        ("width", "<u4"),
        ("height", "<u4"),
        ("time_base_num", "<u4"),
        ("time_base_den", "<u4"),
        ("num_packets", "<u8"),
        ("extradata_offset", "<u8"),
        ("extradata_length", "<u8"),
        ("reserved", "u1", (8,)),
    ]
)

#: 1.1: one compressed video packet (one frame) of a video block, in decode order (§7.4).
VIDEO_PACKET = np.dtype(
    [
        ("offset", "<u8"),
        ("pts", "<i8"),
        ("length", "<u4"),
        ("flags", "<u4"),
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
    "BLOCK_SHAPE": BLOCK_SHAPE,
    "STAT": STAT,
    "VIDEO_HEADER": VIDEO_HEADER,
    "VIDEO_PACKET": VIDEO_PACKET,
}

# EPISODE.success: the codes of kinonb/format/success.py
# EPISODE.flags
EPISODE_HAS_REWARD = 0x1
# BLOCK.flags
BLOCK_PRESENT = 0x1

# COLUMN.flags (1.1)
COLUMN_VARIABLE_SHAPE = 0x1  # the per-frame shape of each block is in block_shapes
COLUMN_OWN_FRAMES = 0x2  # the frame count of each block is in block_shapes (streams, T+1 rows, episode arrays)
COLUMN_CAST = 0x4  # values were cast on write from source_dtype, losing precision (create's dtypes=)
COLUMN_FLAGS = COLUMN_VARIABLE_SHAPE | COLUMN_OWN_FRAMES | COLUMN_CAST
# COLUMN.role
(ROLE_ACTIONS, ROLE_STATES, ROLE_REWARDS, ROLE_IS_TERMINAL, ROLE_CAMERA, ROLE_EXTRA, ROLE_TIMESTAMPS, ROLE_STREAM,
 ROLE_STREAM_TIMESTAMPS, ROLE_EPISODE_ARRAY) = range(10)
ROLE_NAMES = ("actions", "states", "rewards", "is_terminal", "camera", "extra", "timestamps", "stream",
              "stream_timestamps", "episode_array")
#: Roles a 1.0 file may hold; the others need minor 1.
ROLES_1_0 = 6
# COLUMN.codec; jpeg and video (cameras only) are 1.1 features
CODEC_RAW, CODEC_LZ4_FRAMES, CODEC_JPEG, CODEC_VIDEO = 0, 1, 2, 3
CODEC_NAMES = ("raw", "lz4", "jpeg", "video")
#: Codecs a 1.0 file may hold; the others need minor 1.
CODECS_1_0 = 2
#: Channels a jpeg or video camera may have (gray or RGB).
CODEC_CHANNELS = (1, 3)
#: A jpeg or video block decodes to at most this many bytes per stored byte: T * frame_nbytes <= ratio * nbytes.
#: Writers pad a block that compresses better (zeros after its last frame), so no valid input is refused.
MAX_DECODED_RATIO = 1 << 14
# VIDEO_PACKET.flags
VIDEO_KEYFRAME = 0x1
#: FFmpeg decoder names a video block may name (VIDEO_HEADER.codec); anything else is refused before decoding.
VIDEO_CODECS = ("av1", "h264", "hevc", "vp8", "vp9")

#: dtypes a column may hold, as stored in COLUMN.dtype.
ALLOWED_DTYPES = tuple(
    np.dtype(s).str.encode()
    for s in ("|b1", "|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "<f2", "<f4", "<f8")
)
MAX_NDIM = 4


def crc32(data, value: int = 0) -> int:
    """CRC-32 (ISO-HDLC, the zlib/PNG polynomial) of a bytes-like object."""
    return zlib.crc32(data, value) & 0xFFFFFFFF


def record(raw, dtype: np.dtype, offset: int = 0) -> dict:
    """One ``dtype`` record from the bytes ``raw`` as ``{field: Python value}``, read in one call (a numpy field read
    costs ~1 us, and opening a file reads ~60 of them). Byte-array fields come back as ``bytes``."""
    names, unpack = _unpacker(dtype)
    if len(raw) - offset < dtype.itemsize:
        raise ValueError(f"a {dtype.itemsize}-byte record needs {dtype.itemsize} bytes at {offset}, "
                         f"found {max(len(raw) - offset, 0)}")
    return dict(zip(names, unpack(raw, offset)))


@functools.lru_cache(maxsize=None)
def _unpacker(dtype: np.dtype):
    """(field names, struct unpack_from) for a little-endian record dtype of scalars and byte arrays."""
    codes = {"b1": "?", "i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I", "i8": "q", "u8": "Q",
             "f4": "f", "f8": "d"}
    fmt, pos = "<", 0
    for name in dtype.names:
        field, at = dtype.fields[name][:2]
        if at != pos:
            raise TypeError(f"{dtype}: field {name!r} at {at}, expected packed at {pos}")
        if field.kind in "SV" or field.subdtype is not None:
            if field.subdtype is not None and field.subdtype[0] != np.uint8:
                raise TypeError(f"{dtype}: field {name!r} is not bytes")
            fmt += f"{field.itemsize}s"
        else:
            fmt += codes[field.str[1:]]
        pos += field.itemsize
    return dtype.names, struct.Struct(fmt).unpack_from


def align_up(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT
