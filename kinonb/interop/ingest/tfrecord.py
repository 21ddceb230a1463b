"""TFRecord framing, read without TensorFlow.

A TFRecord file is a sequence of records, each::

    <u8  length
    <u4  masked_crc32c(the 8 length bytes)
    u8   data[length]
    <u4  masked_crc32c(data)

``masked(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2**32)``, where crc is CRC-32C (Castagnoli).
Both checksums are verified; a mismatch raises :class:`~kinonb.errors.ChecksumError` naming the file and the
byte offset, a record cut short raises :class:`~kinonb.errors.TruncatedFileError`.

CRC-32C comes from ``google_crc32c`` when it is installed (C code), otherwise from a table-driven kernel
compiled with Numba (``crc32c_table``; plain Python under ``KINONB_DISABLE_JIT=1``).
"""

from __future__ import annotations

import os
import struct

import numpy as np

from ...errors import ChecksumError, TruncatedFileError
from ...kernels.jit import kernel

_POLY = 0x82F63B78  # CRC-32C, reflected
_MASK_DELTA = 0xA282EAD8
_HEAD = struct.Struct("<QI")
_FOOT = struct.Struct("<I")


def _make_table() -> np.ndarray:
    table = np.zeros(256, np.int64)
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table[n] = c
    return table


_TABLE = _make_table()


@kernel
def _crc32c_kernel(table, data, crc):
    crc = crc ^ 0xFFFFFFFF
    for i in range(data.shape[0]):
        crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc32c_table(data, crc: int = 0) -> int:
    """CRC-32C of ``data`` continuing from ``crc``, with kinonb's own table-driven kernel."""
    arr = np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) else data.view(np.uint8).reshape(-1)
    return int(_crc32c_kernel(_TABLE, arr, np.int64(crc)))


try:  # optional accelerator; kinonb never requires it
    import google_crc32c as _google_crc32c
except ImportError:  # pragma: no cover - depends on the environment
    _google_crc32c = None


def crc32c(data) -> int:
    """CRC-32C of ``data`` (google_crc32c when installed, else the Numba table kernel)."""
    if _google_crc32c is not None:
        return int(_google_crc32c.value(bytes(data)))
    return crc32c_table(data)


def masked_crc32c(data) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _record_length(f, path: str, pos: int, size: int, verify: bool) -> int:
    """The data length of the record whose header starts at ``pos`` (read from ``f``), checked."""
    head = f.read(_HEAD.size)
    if len(head) < _HEAD.size:
        raise TruncatedFileError(path, pos, "a 12-byte record header", f"{len(head)} bytes before EOF",
                                 "file seems not fully written?")
    length, length_crc = _HEAD.unpack(head)
    if verify and masked_crc32c(head[:8]) != length_crc:
        raise ChecksumError(path, pos + 8, f"masked CRC-32C {masked_crc32c(head[:8]):#010x} (computed "
                            f"over the record length {length})", f"{length_crc:#010x} stored",
                            "not a TFRecord file, or corrupt")
    if length > size - pos - _HEAD.size - _FOOT.size:
        raise TruncatedFileError(path, pos, f"a record of {length} bytes + 4-byte CRC",
                                 f"{size - pos - _HEAD.size} bytes left", "file seems not fully written?")
    return length


def count_records(path, *, verify: bool = True) -> int:
    """How many records a TFRecord file holds, from their headers alone (each header's CRC checked when
    ``verify``; the data is seeked past, not read)."""
    path = os.fspath(path)
    size = os.path.getsize(path)
    count = pos = 0
    with open(path, "rb") as f:
        while pos < size:
            pos += _HEAD.size + _record_length(f, path, pos, size, verify) + _FOOT.size
            f.seek(pos)
            count += 1
    return count


def iter_records(path, *, verify: bool = True, skip: int = 0):
    """Yield ``(offset, data)`` for every record of a TFRecord file, checking both CRCs when ``verify``; the first
    ``skip`` records are passed over by their headers, their data neither read nor checked."""
    path = os.fspath(path)
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        pos = 0
        while pos < size:
            length = _record_length(f, path, pos, size, verify)
            if skip > 0:
                skip -= 1
                pos += _HEAD.size + length + _FOOT.size
                f.seek(pos)
                continue
            data = f.read(length)
            (data_crc,) = _FOOT.unpack(f.read(_FOOT.size))
            if verify:
                got = masked_crc32c(data)
                if got != data_crc:
                    raise ChecksumError(path, pos + _HEAD.size + length, f"masked CRC-32C {got:#010x} "
                                        f"(computed over the {length}-byte record at {pos})",
                                        f"{data_crc:#010x} stored", "the record is corrupt")
            yield pos, data
            pos += _HEAD.size + length + _FOOT.size
