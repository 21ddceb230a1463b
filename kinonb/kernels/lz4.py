"""LZ4 *block* decoder (the bytes of ``lz4.block.compress(data, store_size=False)``) for untrusted input.

A block is a run of sequences: a token byte (high nibble: literal count, low nibble: match length - 4, 15 =
more bytes follow, each adding up to 255), the literals, a little-endian 2-byte match offset, then the
match copied from ``offset`` bytes back in the output (it may overlap what it writes). The last sequence
holds literals only and ends the block. Every read of the input and every write of the output is checked
against its bounds, so a malformed block yields an error code, never an access outside the buffers.

Every block liblz4 decodes to the expected size decodes here to the same bytes, except that a match offset
of 0 is refused. liblz4 also refuses blocks that break its end-of-block parsing rules (the last 5 bytes are
literals, the last match starts 12 bytes before the end); those rules serve its wide copies, not the
meaning of the bytes, so this decoder does not enforce them.
"""

from __future__ import annotations

import operator

import numpy as np

from ..errors import InvalidArgumentError
from .jit import kernel
from .threads import num_threads, split_over_threads, whole_batch

# Codes of decode_block: OK, or a negative error code that decode_frames reports with ERRORS.
OK = 0
BAD_RANGE = -1
TRUNCATED = -2
BAD_OFFSET = -3
OVERFLOW = -4
SHORT = -5

ERRORS = {
    BAD_RANGE: "its byte range lies outside the source buffer",
    TRUNCATED: "the block ends inside a sequence",
    BAD_OFFSET: "a match offset is 0 or points before the start of the frame",
    OVERFLOW: "it decodes to more bytes than the frame size",
    SHORT: "it decodes to fewer bytes than the frame size",
}

# Output bytes per call from which the frames are split over threads (with >= 2 frames): handing a chunk to a
# thread costs ~20-25 us and this decoder writes ~1 GB/s on camera-like frames (30 GB/s on long runs), so
# splitting gains from a few hundred KB of output (64 Push-T frames are 1.7 MB).
PARALLEL_MIN_BYTES = 1 << 18


@kernel(inline=True)
def _copy(dst, d, src, s, n):
    # Unsigned indices: Numba emits no negative-index wraparound, so LLVM can vectorise the loop.
    d = np.uint64(d)
    s = np.uint64(s)
    for i in range(np.uint64(n)):
        dst[d + i] = src[s + i]


@kernel(inline=True)
def _copy16(dst, d, src, s):
    # Fixed length: LLVM turns it into one 16-byte move. Used for short copies with 16 bytes of slack.
    d = np.uint64(d)
    s = np.uint64(s)
    for i in range(np.uint64(16)):
        dst[d + i] = src[s + i]


@kernel(inline=True)
def decode_block(src, start, length, out, ostart, nbytes):
    """Decode ``src[start:start+length]`` into ``out[ostart:ostart+nbytes]``; return ``OK`` or an error code.

    One loop over the block's sequences, kept whole (71 lines): every bound check sits next to the read it guards.
    """
    if start < 0 or length < 0 or start > src.shape[0] - length:
        return BAD_RANGE
    if ostart < 0 or nbytes < 0 or ostart > out.shape[0] - nbytes:
        return OVERFLOW
    ip = start
    iend = start + length
    op = ostart
    oend = ostart + nbytes
    while True:
        if ip >= iend:
            return TRUNCATED
        token = np.int64(src[ip])
        ip += 1
        n = token >> 4
        # The length extension is written out twice (literals here, match below) on purpose: a helper returning
        # (n, ip) costs a tuple per sequence in this hottest loop.
        if n == 15:
            while True:
                if ip >= iend:
                    return TRUNCATED
                b = np.int64(src[ip])
                ip += 1
                n += b
                if b != 255:
                    break
        if n > iend - ip:
            return TRUNCATED
        if n > oend - op:
            return OVERFLOW
        if n <= 16 and iend - ip >= 16 and oend - op >= 16:
            _copy16(out, op, src, ip)  # the bytes past n lie inside the frame and are overwritten later
        else:
            _copy(out, op, src, ip, n)
        ip += n
        op += n
        if ip == iend:
            break
        if iend - ip < 2:
            return TRUNCATED
        offset = np.int64(src[ip]) | (np.int64(src[ip + 1]) << 8)
        ip += 2
        if offset == 0 or offset > op - ostart:
            return BAD_OFFSET
        n = token & 15
        if n == 15:
            while True:
                if ip >= iend:
                    return TRUNCATED
                b = np.int64(src[ip])
                ip += 1
                n += b
                if b != 255:
                    break
        n += 4
        if n > oend - op:
            return OVERFLOW
        # A match may overlap its own output (offset < n): its bytes repeat with period offset, so copy
        # from the match source in chunks no longer than the distance already written, which doubles.
        m = op - offset
        if n <= 16 and offset >= 16 and oend - op >= 16:
            _copy16(out, op, out, m)
            op += n
            n = 0
        while n > 0:
            c = min(n, op - m)
            _copy(out, op, out, m, c)
            op += c
            n -= c
    if op != oend:
        return SHORT
    return OK


@kernel
def lz4_decode_frames_chunk(src_u8, frame_offsets, frame_lengths, frame_nbytes, out_u8, n0, n1):
    """Decode frames ``n0 .. n1 - 1``, frame ``n`` into ``out_u8[n*frame_nbytes:(n+1)*frame_nbytes]``; -1, or
    the first bad frame among them."""
    for n in range(n0, n1):
        code = decode_block(src_u8, frame_offsets[n], frame_lengths[n], out_u8, n * frame_nbytes, frame_nbytes)
        if code != OK:
            return n
    return -1


def _first_bad(results) -> int:
    bad = [b for b in results if b >= 0]
    return min(bad) if bad else -1


#: Decode frame ``n`` into ``out_u8[n*frame_nbytes:(n+1)*frame_nbytes]``; -1, or the first bad frame.
lz4_decode_frames = whole_batch(lz4_decode_frames_chunk, count_arg=1)
#: The same with the frames split over threads; -1, or the first bad frame.
lz4_decode_frames_parallel = split_over_threads(lz4_decode_frames_chunk, count_arg=1, combine=_first_bad)


def decode_frames(src, offsets, lengths, frame_nbytes, out=None):
    """Decode N lz4 blocks of ``frame_nbytes`` bytes each into ``out`` (uint8, ``N * frame_nbytes``); return it.

    Raises ``ValueError`` naming the first frame that is malformed or does not decode to exactly
    ``frame_nbytes`` bytes.
    """
    src = np.asarray(src)
    if src.dtype != np.uint8 or src.ndim != 1:
        raise InvalidArgumentError(f"src must be a 1-D uint8 array, got shape {src.shape} dtype {src.dtype}")
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    lengths = np.ascontiguousarray(lengths, dtype=np.int64)
    if offsets.ndim != 1 or lengths.shape != offsets.shape:
        raise InvalidArgumentError(f"offsets and lengths must be 1-D of one length, got {offsets.shape} and {lengths.shape}")
    try:
        nbytes = operator.index(frame_nbytes)
    except TypeError:
        nbytes = -1
    if isinstance(frame_nbytes, bool) or nbytes < 0:
        raise InvalidArgumentError(f"frame_nbytes must be an int >= 0, got {frame_nbytes!r}")
    frame_nbytes = nbytes
    total = offsets.shape[0] * frame_nbytes
    if out is None:
        out = np.empty(total, np.uint8)
    elif out.dtype != np.uint8 or out.shape != (total,) or not out.flags.writeable:
        raise InvalidArgumentError(f"out must be a writeable uint8 array of shape ({total},), got {out.shape} {out.dtype}")
    parallel = offsets.shape[0] > 1 and total >= PARALLEL_MIN_BYTES and num_threads() > 1
    fn = lz4_decode_frames_parallel if parallel else lz4_decode_frames
    bad = fn(src, offsets, lengths, frame_nbytes, out)
    if bad >= 0:
        code = decode_block(src, offsets[bad], lengths[bad], out, bad * frame_nbytes, frame_nbytes)
        raise InvalidArgumentError(
            f"lz4 frame {bad} (bytes {offsets[bad]}..{offsets[bad] + lengths[bad]}, expected {frame_nbytes} "
            f"bytes out) is corrupt: {ERRORS.get(code, f'error {code}')}"
        )
    return out
