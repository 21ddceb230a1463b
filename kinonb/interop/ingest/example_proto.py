"""A minimal protobuf wire-format decoder for ``tf.train.Example`` and ``tf.train.SequenceExample``.

Only what those messages use is decoded (from tensorflow/core/example/{example,feature}.proto)::

    Example         { Features features = 1; }
    SequenceExample { Features context = 1; FeatureLists feature_lists = 2; }
    Features        { map<string, Feature> feature = 1; }          // entry: key = 1, value = 2
    FeatureLists    { map<string, FeatureList> feature_list = 1; } // entry: key = 1, value = 2
    FeatureList     { repeated Feature feature = 1; }
    Feature         { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
    BytesList { repeated bytes value = 1; }  FloatList { repeated float value = 1; }  Int64List { repeated int64 value = 1; }

Repeated scalars are accepted packed (wire type 2) and unpacked (wire types 5 / 0), as protobuf parsers must.
Unknown fields are skipped. A malformed message raises :class:`~kinonb.errors.CorruptFieldError` naming the
file and the byte offset of the problem.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ...errors import CorruptFieldError

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5


class Feature(NamedTuple):
    """One decoded ``tf.train.Feature``: kind is "bytes", "float", "int64" or "empty"."""

    kind: str
    value: object  # list[bytes] | np.ndarray (<f4) | np.ndarray (int64) | None

    def __len__(self):
        return 0 if self.value is None else len(self.value)


class _Reader:
    def __init__(self, data, path, base):
        self.buf = memoryview(data)
        self.path = path
        self.base = base

    def error(self, pos, expected, found):
        return CorruptFieldError(self.path, self.base + pos, expected, found, "malformed tf.train.Example protobuf")

    def varint(self, pos, end):
        result = shift = 0
        start = pos
        while True:
            if pos >= end:
                raise self.error(start, "a complete varint", "the end of its message")
            b = self.buf[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result, pos
            shift += 7
            if shift >= 70:
                raise self.error(start, "a varint of at most 10 bytes", "a longer one")

    def fields(self, pos, end):
        """Yield (field number, wire type, value): an int for varints, a (start, stop) span otherwise."""
        while pos < end:
            at = pos
            key, pos = self.varint(pos, end)
            num, wt = key >> 3, key & 7
            if wt == VARINT:
                value, pos = self.varint(pos, end)
                yield num, wt, value
                continue
            if wt == LENGTH:
                n, pos = self.varint(pos, end)
            elif wt == FIXED64:
                n = 8
            elif wt == FIXED32:
                n = 4
            else:
                raise self.error(at, "wire type 0, 1, 2 or 5", f"wire type {wt} (field {num})")
            if n > end - pos:
                raise self.error(at, f"field {num} of {n} bytes inside its message", f"{end - pos} bytes left")
            yield num, wt, (pos, pos + n)
            pos += n

    def string(self, span, what):
        raw = bytes(self.buf[span[0] : span[1]])
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error(span[0], f"a utf-8 {what}", repr(raw[:40])) from None

    # ---- messages ----
    def feature(self, start, end) -> Feature:
        kind, value = "empty", None
        for num, wt, span in self.fields(start, end):
            if wt != LENGTH or num not in (1, 2, 3):
                continue
            kind = ("bytes", "float", "int64")[num - 1]
            value = getattr(self, f"_{kind}_list")(*span)
        return Feature(kind, value)

    def _bytes_list(self, start, end):
        return [bytes(self.buf[a:b]) for num, wt, (a, b) in self._spans(start, end) if num == 1 and wt == LENGTH]

    def _spans(self, start, end):
        for num, wt, value in self.fields(start, end):
            if wt != VARINT:
                yield num, wt, value

    def _float_list(self, start, end):
        parts = []
        for num, wt, value in self.fields(start, end):
            if num != 1:
                continue
            if wt == LENGTH:
                a, b = value
                if (b - a) % 4:
                    raise self.error(a, "packed floats (a multiple of 4 bytes)", f"{b - a} bytes")
                parts.append(np.frombuffer(self.buf[a:b], "<f4"))
            elif wt == FIXED32:
                parts.append(np.frombuffer(self.buf[value[0] : value[1]], "<f4"))
            else:
                raise self.error(start, "FloatList values of wire type 2 or 5", f"wire type {wt}")
        return np.concatenate(parts) if parts else np.zeros(0, "<f4")

    def _int64_list(self, start, end):
        values = []
        for num, wt, value in self.fields(start, end):
            if num != 1:
                continue
            if wt == VARINT:
                values.append(value)
            elif wt == LENGTH:
                pos, stop = value
                while pos < stop:
                    v, pos = self.varint(pos, stop)
                    values.append(v)
            else:
                raise self.error(start, "Int64List values of wire type 0 or 2", f"wire type {wt}")
        arr = np.array(values, dtype=np.uint64).view(np.int64) if values else np.zeros(0, np.int64)
        return arr  # two's complement: a 10-byte varint >= 2**63 is a negative int64

    def map_entries(self, start, end, value_parser):
        out = {}
        for num, wt, span in self.fields(start, end):
            if num != 1 or wt != LENGTH:
                continue
            key, value = "", None
            for knum, kwt, kspan in self.fields(*span):
                if knum == 1 and kwt == LENGTH:
                    key = self.string(kspan, "feature name")
                elif knum == 2 and kwt == LENGTH:
                    value = value_parser(*kspan)
            out[key] = value if value is not None else value_parser(0, 0)
        return out

    def feature_list(self, start, end) -> list[Feature]:
        return [self.feature(*span) for num, wt, span in self._spans(start, end) if num == 1 and wt == LENGTH]


def parse_example(data, *, path="<bytes>", offset: int = 0):
    """Decode a serialized Example or SequenceExample.

    Returns ``(features, feature_lists)``: ``features`` maps names to :class:`Feature` (an Example's features, a
    SequenceExample's context); ``feature_lists`` maps names to lists of Feature, or is None for an Example.
    ``path`` and ``offset`` (of ``data`` in that file) only label errors.
    """
    r = _Reader(data, path, offset)
    features, lists = {}, None
    for num, wt, span in r.fields(0, len(r.buf)):
        if wt != LENGTH:
            continue
        if num == 1:
            features.update(r.map_entries(*span, r.feature))
        elif num == 2:
            lists = lists or {}
            lists.update(r.map_entries(*span, r.feature_list))
    return features, lists
