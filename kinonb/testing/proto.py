"""Encoders for building RLDS test sources: protobuf ``tf.train.Example`` messages and framed TFRecords.

kinonb never writes these formats; its readers (``kinonb.interop.ingest.example_proto`` and ``.tfrecord``)
only decode them. See ``example_proto`` for the message layout.
"""

from __future__ import annotations

import struct

import numpy as np

from ..interop.ingest.example_proto import LENGTH
from ..interop.ingest.tfrecord import masked_crc32c


def varint_bytes(v: int) -> bytes:
    """``v`` as a protobuf varint (negative values as their 64-bit two's complement: 10 bytes)."""
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num: int, payload: bytes) -> bytes:
    """A length-delimited (wire type 2) field number ``num`` holding ``payload``."""
    return varint_bytes(num << 3 | LENGTH) + varint_bytes(len(payload)) + payload


def encode_feature(value) -> bytes:
    """Serialize one Feature from a list of bytes/str, a float array or an int array."""
    if isinstance(value, (list, tuple)) and (not value or isinstance(value[0], (bytes, str))):
        items = [v.encode() if isinstance(v, str) else bytes(v) for v in value]
        return field(1, b"".join(field(1, v) for v in items))
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        return field(2, field(1, arr.astype("<f4").tobytes()))
    return field(3, field(1, b"".join(varint_bytes(int(v)) for v in arr.reshape(-1))))


def encode_example(features: dict) -> bytes:
    """Serialize an Example from ``{name: value}`` (see :func:`encode_feature`)."""
    entries = b"".join(field(1, field(1, k.encode()) + field(2, encode_feature(v))) for k, v in features.items())
    return field(1, entries)


def encode_record(data: bytes) -> bytes:
    """One framed TFRecord: length, its masked CRC-32C, the data, its masked CRC-32C."""
    head = struct.pack("<Q", len(data))
    return head + struct.pack("<I", masked_crc32c(head)) + bytes(data) + struct.pack("<I", masked_crc32c(data))
