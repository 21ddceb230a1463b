"""Compiled kernels over numpy buffers: sample index, window gather, resize, lz4 block decode.

Each kernel trusts its indices: callers check them first (Numba does no bounds checks). The lz4 decoder is
the exception: it checks every access, since its input is file bytes.
"""

from .gather import gather_windows, gather_windows_parallel, gather_windows_serial
from .lz4 import decode_frames, lz4_decode_frames, lz4_decode_frames_parallel
from .resize import resize_frames
from .windows import build_sample_index, sample_index_arrays

__all__ = [
    "build_sample_index",
    "decode_frames",
    "gather_windows",
    "gather_windows_parallel",
    "gather_windows_serial",
    "lz4_decode_frames",
    "lz4_decode_frames_parallel",
    "resize_frames",
    "sample_index_arrays",
]
