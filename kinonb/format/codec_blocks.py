"""The jpeg and video camera blocks (format 1.1, format_spec.md §7.3 and §7.4): their bytes and their checks.

Bytes only: no decoder is imported here. ``kinonb/codecs`` decodes what these checks let through.

jpeg: the lz4 block's frame table (``<u8 offsets[T+1]``) followed by one JPEG (baseline or progressive JFIF)
per frame, then zero padding up to the decoded-size bound. video: a ``VIDEO_HEADER``, ``T`` ``VIDEO_PACKET``
records in decode order, the decoder's extradata, the packets back to back, then zero padding.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from . import layout as L


def padded_size(payload: int, num_frames: int, frame_nbytes: int) -> int:
    """The block size a writer uses for ``payload`` bytes: at least ``T * frame_nbytes / MAX_DECODED_RATIO``."""
    return max(payload, -(-num_frames * frame_nbytes // L.MAX_DECODED_RATIO))


def ratio_problem(num_frames: int, frame_nbytes: int, block_nbytes: int) -> str | None:
    if num_frames * frame_nbytes > L.MAX_DECODED_RATIO * block_nbytes:  # Python ints: no overflow
        return (f"at most {L.MAX_DECODED_RATIO} decoded bytes per stored byte ({num_frames} frames of "
                f"{frame_nbytes} bytes in a {block_nbytes}-byte block)")
    return None


# -- jpeg ----------------------------------------------------------------------------------------------------

def encode_jpeg_block(payloads: list, frame_nbytes: int) -> list:
    """The pieces of a jpeg block holding ``payloads`` (one JPEG per frame), padded to the ratio bound."""
    table = np.empty(len(payloads) + 1, "<u8")
    table[0] = 8 * (len(payloads) + 1)
    np.cumsum([len(p) for p in payloads], out=table[1:])
    table[1:] += table[0]
    end = int(table[-1])
    pad = padded_size(end, len(payloads), frame_nbytes) - end
    return [table.tobytes(), *payloads] + ([bytes(pad)] if pad else [])


def jpeg_table_problem(table: np.ndarray, num_frames: int, block_nbytes: int, frame_nbytes: int) -> str | None:
    """Why a jpeg block's frame table is invalid, or None (§7.3): ``table`` is the block's first T+1 <u8."""
    head = 8 * (num_frames + 1)
    if len(table) != num_frames + 1:
        return f"{num_frames + 1} offsets"
    if int(table[0]) != head:
        return f"offsets[0] == {head}"
    if int(table[-1]) > block_nbytes:
        return f"offsets[{num_frames}] <= block length {block_nbytes}"
    if num_frames > 1 and bool(np.any(table[1:] < table[:-1])):
        return "non-decreasing offsets"
    return ratio_problem(num_frames, frame_nbytes, block_nbytes)


# -- video ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class VideoTable:
    """A checked video block: where each packet is (absolute offsets) and how frames map to packets."""

    codec: str
    width: int
    height: int
    time_base: Fraction
    extradata: bytes
    offset: np.ndarray  # int64 (T,): absolute file offset of each packet, decode order
    length: np.ndarray  # int64 (T,)
    pts: np.ndarray  # int64 (T,)
    keyframe: np.ndarray  # bool (T,)
    packet_of_frame: np.ndarray  # int64 (T,): frame t (presentation order) is packet packet_of_frame[t]
    key_of_packet: np.ndarray  # int64 (T,): the keyframe at or before each packet, decode order

    @property
    def num_frames(self) -> int:
        return len(self.pts)


def encode_video_block(codec: str, width: int, height: int, time_base: Fraction, extradata: bytes, packets: list,
                       pts: np.ndarray, keyframe: np.ndarray, frame_nbytes: int) -> list:
    """The pieces of a video block (§7.4), padded to the ratio bound."""
    t = len(packets)
    head = np.zeros((), L.VIDEO_HEADER)
    head["codec"] = codec.encode()
    head["width"], head["height"] = width, height
    head["time_base_num"], head["time_base_den"] = time_base.numerator, time_base.denominator
    head["num_packets"] = t
    head["extradata_offset"] = L.VIDEO_HEADER.itemsize + t * L.VIDEO_PACKET.itemsize
    head["extradata_length"] = len(extradata)
    index = np.zeros(t, L.VIDEO_PACKET)
    lengths = np.array([len(p) for p in packets], np.int64)
    first = int(head["extradata_offset"]) + len(extradata)
    index["offset"] = first + np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if t else 0
    index["length"] = lengths
    index["pts"] = pts
    index["flags"] = np.where(keyframe, L.VIDEO_KEYFRAME, 0)
    end = first + int(lengths.sum())
    pad = padded_size(end, t, frame_nbytes) - end
    return [head.tobytes(), index.tobytes(), bytes(extradata), *packets] + ([bytes(pad)] if pad else [])


def video_table(buf: np.ndarray, off: int, nbytes: int, num_frames: int, shape: tuple[int, ...]):
    """Check a video block at ``buf[off : off + nbytes]`` (§7.4); return ``(VideoTable, None)`` or
    ``(None, (relative offset of the bad field, what was expected, what was found))``."""
    h, w, c = shape
    if nbytes < L.VIDEO_HEADER.itemsize:
        return None, (0, f"a {L.VIDEO_HEADER.itemsize}-byte VIDEO_HEADER", f"{nbytes} bytes")
    head = buf[off : off + L.VIDEO_HEADER.itemsize].view(L.VIDEO_HEADER)[0]

    def at(field):
        return L.VIDEO_HEADER.fields[field][1]

    codec = bytes(head["codec"]).rstrip(b"\0")
    if codec.decode("latin-1") not in L.VIDEO_CODECS:
        return None, (at("codec"), f"one of {list(L.VIDEO_CODECS)}", codec)
    if int(head["width"]) != w or int(head["height"]) != h:
        return None, (at("width"), f"width x height {w}x{h}, the block's frame shape",
                      f"{int(head['width'])}x{int(head['height'])}")
    if c not in L.CODEC_CHANNELS:
        return None, (at("width"), "1 or 3 channels", c)
    if not head["time_base_num"] or not head["time_base_den"]:
        return None, (at("time_base_num"), "a time base num/den, both > 0",
                      f"{int(head['time_base_num'])}/{int(head['time_base_den'])}")
    if int(head["num_packets"]) != num_frames:
        return None, (at("num_packets"), f"{num_frames} packets, one per frame", int(head["num_packets"]))
    index_end = L.VIDEO_HEADER.itemsize + num_frames * L.VIDEO_PACKET.itemsize
    ex_off, ex_len = int(head["extradata_offset"]), int(head["extradata_length"])
    if ex_off != index_end or ex_len > nbytes - min(index_end, nbytes) or index_end > nbytes:
        return None, (at("extradata_offset"), f"extradata at {index_end}, within the {nbytes}-byte block",
                      (ex_off, ex_len))
    index = buf[off + L.VIDEO_HEADER.itemsize : off + index_end].view(L.VIDEO_PACKET)
    problem = _packets_problem(index, ex_off + ex_len, nbytes)
    if problem is None:
        problem = (0, ratio_problem(num_frames, w * h * c, nbytes), "a block too small for its frames")
        if problem[1] is None:
            problem = None
    if problem is not None:
        return None, problem
    return _table(codec.decode(), w, h, head, bytes(buf[off + ex_off : off + ex_off + ex_len]), index, off), None


def _packets_problem(index: np.ndarray, first: int, nbytes: int):
    """Packets back to back from ``first``, inside the block, keyframe first, pts unique, closed GOPs."""
    t = len(index)
    base = L.VIDEO_HEADER.itemsize
    length = index["length"].astype(np.int64)
    offset = index["offset"]
    want = first + np.concatenate([[0], np.cumsum(length)[:-1]]) if t else np.zeros(0, np.int64)

    def bad(mask, field, expected):
        k = int(np.flatnonzero(mask)[0])
        return (base + k * L.VIDEO_PACKET.itemsize + L.VIDEO_PACKET.fields[field][1], f"VIDEO_PACKET[{k}].{field} "
                f"{expected}", index[k][field].item())

    if t and bool(np.any(length == 0)):
        return bad(length == 0, "length", "> 0")
    if t and bool(np.any(offset != want.astype(np.uint64))):
        return bad(offset != want.astype(np.uint64), "offset", "the end of the previous packet (packets back to back)")
    if first + int(length.sum()) > nbytes:
        return (base, f"packets ending within the {nbytes}-byte block", first + int(length.sum()))
    flags = index["flags"]
    if t and bool(np.any(flags & ~np.uint32(L.VIDEO_KEYFRAME))):
        return bad((flags & ~np.uint32(L.VIDEO_KEYFRAME)) != 0, "flags", "only bit 0 (keyframe)")
    if t and not flags[0] & L.VIDEO_KEYFRAME:
        return bad(np.ones(1, bool), "flags", "a keyframe first (decoding starts there)")
    pts = index["pts"]
    if len(np.unique(pts)) != t:
        return (base, "distinct pts (one frame each)", "a repeated pts")
    key = (flags & L.VIDEO_KEYFRAME) != 0
    # Closed GOPs: every packet after a keyframe (decode order) presents after it, every one before it earlier.
    key_pts = np.maximum.accumulate(np.where(key, pts, np.iinfo(np.int64).min))
    later = np.minimum.accumulate(pts[::-1])[::-1]
    if bool(np.any(pts < key_pts)) or bool(np.any(key & (later < pts))):
        return bad((pts < key_pts) | (key & (later < pts)), "pts", "closed GOPs: no packet presents before the "
                   "keyframe it follows, nor after a keyframe it precedes")
    return None


def _table(codec, w, h, head, extradata, index, off) -> VideoTable:
    t = len(index)
    key = (index["flags"] & L.VIDEO_KEYFRAME) != 0
    pts = index["pts"].astype(np.int64)
    key_of = np.maximum.accumulate(np.where(key, np.arange(t), 0)) if t else np.zeros(0, np.int64)
    return VideoTable(codec, w, h, Fraction(int(head["time_base_num"]), int(head["time_base_den"])), extradata,
                      index["offset"].astype(np.int64) + off, index["length"].astype(np.int64), pts, key,
                      np.argsort(pts, kind="stable").astype(np.int64), key_of.astype(np.int64))
