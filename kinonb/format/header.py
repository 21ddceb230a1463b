"""The 64-byte file header and the 64-byte commit trailer: encoding, and checking the header."""

from __future__ import annotations

import numpy as np

from ..errors import (
    BadMagicError,
    ChecksumError,
    CorruptFieldError,
    TruncatedFileError,
    UnsupportedVersionError,
)
from . import layout as L


def encode_header() -> bytes:
    h = np.zeros((), L.HEADER)
    h["magic"] = L.HEADER_MAGIC
    h["major"] = L.FORMAT_MAJOR
    h["minor"] = 0  # the header serves every minor; each commit's trailer says which one it needs
    h["header_size"] = L.HEADER.itemsize
    h["alignment"] = L.ALIGNMENT
    h["crc32"] = L.crc32(h.tobytes()[:-4])
    return h.tobytes()


def check_header(raw: bytes, path, file_size: int) -> tuple[int, int]:
    """Validate the 64-byte file header; return (major, minor)."""
    if file_size < L.HEADER.itemsize or len(raw) < L.HEADER.itemsize:
        raise TruncatedFileError(path, 0, f"a {L.HEADER.itemsize}-byte header", f"a {file_size}-byte file",
                                 "file seems not fully written")
    h = L.record(raw, L.HEADER)
    if bytes(h["magic"]) != L.HEADER_MAGIC:
        raise BadMagicError(path, 0, f"magic {L.HEADER_MAGIC!r}", bytes(h["magic"]), "not a .knb file")
    major, minor = int(h["major"]), int(h["minor"])
    if major > L.FORMAT_MAJOR:
        raise UnsupportedVersionError(path, 8, f"format major version <= {L.FORMAT_MAJOR}", f"{major}.{minor}",
                                      "written by a newer kinonb: upgrade kinonb to read it")
    if major < 1:
        raise UnsupportedVersionError(path, 8, "format major version >= 1", f"{major}.{minor}")
    got = L.crc32(raw[: L.HEADER.itemsize - 4])
    if got != int(h["crc32"]):
        raise ChecksumError(path, 60, f"header CRC-32 {int(h['crc32']):#010x}", f"{got:#010x}")
    if int(h["alignment"]) != L.ALIGNMENT or int(h["header_size"]) != L.HEADER.itemsize:
        raise CorruptFieldError(path, 12, f"header_size {L.HEADER.itemsize} and alignment {L.ALIGNMENT}",
                            (int(h["header_size"]), int(h["alignment"])))
    return major, minor


def encode_trailer(footer_offset: int, footer_length: int, seq: int, num_episodes: int, footer_crc: int,
                   minor: int = 0) -> bytes:
    """The trailer of a commit that needs format ``1.minor`` (0 when it uses only 1.0 features)."""
    t = np.zeros((), L.TRAILER)
    t["magic"] = L.TRAILER_MAGIC
    t["major"] = L.FORMAT_MAJOR
    t["minor"] = minor
    t["footer_offset"] = footer_offset
    t["footer_length"] = footer_length
    t["commit_seq"] = seq
    t["num_episodes"] = num_episodes
    t["footer_header_crc32"] = footer_crc
    t["crc32"] = L.crc32(t.tobytes()[:-4])
    return t.tobytes()
