"""The Numba lz4 block decoder against the lz4 library, on valid, truncated, bit-flipped and random blocks."""

import contextlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kinonb.kernels import lz4 as klz4

lz4_block = pytest.importorskip("lz4.block")


def compress(data: bytes, level: int) -> bytes:
    if level < 0:
        return lz4_block.compress(data, store_size=False, mode="fast", acceleration=-level)
    if level == 0:
        return lz4_block.compress(data, store_size=False)
    return lz4_block.compress(data, store_size=False, mode="high_compression", compression=level)


def reference_decode(block: bytes, nbytes: int):
    """The lz4 library's answer: the bytes when the block decodes to exactly nbytes, else None."""
    try:
        data = lz4_block.decompress(block, uncompressed_size=nbytes)
    except lz4_block.LZ4BlockError:
        return None
    return data if len(data) == nbytes else None


@st.composite
def payload(draw, max_size=1 << 16):
    """Incompressible, run-heavy or mixed bytes: long literals, long and overlapping matches."""
    kind = draw(st.sampled_from(["binary", "runs", "mixed"]))
    if kind == "binary":
        return draw(st.binary(max_size=max_size))
    rng = np.random.default_rng(draw(st.integers(0, 2**32)))
    size = draw(st.integers(0, max_size))
    if kind == "runs":
        pattern = rng.integers(0, 256, draw(st.integers(1, 40)), dtype=np.uint8)
        return np.resize(pattern, size).tobytes()
    out = bytearray()
    while len(out) < size:
        n = int(rng.integers(1, 2000))
        out += rng.integers(0, 256, n, dtype=np.uint8).tobytes() if rng.random() < 0.4 else bytes([n % 256]) * n
    return bytes(out[:size])


def pack(blocks, rng):
    """Concatenate blocks with random gaps; return (src, offsets, lengths)."""
    src, offsets = bytearray(rng.integers(0, 256, 3, dtype=np.uint8).tobytes()), []
    for b in blocks:
        offsets.append(len(src))
        src += b + rng.integers(0, 256, int(rng.integers(0, 4)), dtype=np.uint8).tobytes()
    return (np.frombuffer(bytes(src), np.uint8), np.array(offsets, np.int64),
            np.array([len(b) for b in blocks], np.int64))


@given(data=payload(), level=st.sampled_from([-8, 0, 3, 12]))
def test_single_frame_matches_lz4(data, level):
    block = compress(data, level)
    src, offsets, lengths = pack([block], np.random.default_rng(len(data)))
    np.testing.assert_array_equal(klz4.decode_frames(src, offsets, lengths, len(data)), np.frombuffer(data, np.uint8))


@given(data=payload(max_size=1 << 13), n=st.integers(1, 9), level=st.sampled_from([0, 9]))
def test_many_frames_serial_and_parallel(data, n, level):
    size = len(data) // n
    frames = [data[i * size:(i + 1) * size] for i in range(n)]
    src, offsets, lengths = pack([compress(f, level) for f in frames], np.random.default_rng(n))
    want = np.frombuffer(b"".join(frames), np.uint8)
    for fn in (klz4.lz4_decode_frames, klz4.lz4_decode_frames_parallel):
        out = np.zeros(n * size, np.uint8)
        assert fn(src, offsets, lengths, size, out) == -1
        np.testing.assert_array_equal(out, want)


def test_compiled_equals_py_func():
    frames = [b"abc" * 50, bytes(range(150)), b"\0" * 150]
    src, offsets, lengths = pack([compress(f, 0) for f in frames], np.random.default_rng(3))
    for fn in (klz4.lz4_decode_frames, klz4.lz4_decode_frames_parallel):
        got, want = np.zeros(450, np.uint8), np.zeros(450, np.uint8)
        assert fn(src, offsets, lengths, 150, got) == fn.py_func(src, offsets, lengths, 150, want) == -1
        np.testing.assert_array_equal(got, want)
        assert got.tobytes() == b"".join(frames)
    with plain_python_kernels(klz4):
        out = np.zeros(450, np.uint8)
        assert klz4.lz4_decode_frames(src, offsets, lengths, 150, out) == -1
        assert out.tobytes() == b"".join(frames)


class Guarded:
    """A 1-D array that fails the test on any access outside [lo, hi), negative indices included."""

    def __init__(self, arr, lo, hi):
        self.arr, self.shape, self.lo, self.hi = arr, arr.shape, lo, hi

    def _check(self, i):
        if not self.lo <= int(i) < self.hi:
            raise AssertionError(f"access at {int(i)} outside [{self.lo}, {self.hi})")

    def __getitem__(self, i):
        self._check(i)
        return self.arr[i]

    def __setitem__(self, i, v):
        self._check(i)
        self.arr[i] = v


@contextlib.contextmanager
def plain_python_kernels(module):
    """Swap the module's compiled helpers for their Python bodies, so that they accept Guarded arrays."""
    saved = {k: v for k, v in vars(module).items() if hasattr(v, "py_func") and v.py_func is not v}
    try:
        for k, v in saved.items():
            setattr(module, k, v.py_func)
        yield
    finally:
        for k, v in saved.items():
            setattr(module, k, v)


def mutate(block: bytes, rng) -> bytes:
    b = bytearray(block)
    what = rng.integers(0, 4)
    if what == 0 and b:
        return bytes(b[: rng.integers(0, len(b))])  # truncated
    if what == 1:
        for _ in range(rng.integers(1, 4)):
            if b:
                i = rng.integers(0, len(b))
                b[i] ^= 1 << int(rng.integers(0, 8))  # bit flips
        return bytes(b)
    if what == 2:
        return rng.integers(0, 256, rng.integers(0, 64), dtype=np.uint8).tobytes()  # noise
    return bytes(b) + rng.integers(0, 256, rng.integers(1, 8), dtype=np.uint8).tobytes()  # trailing junk


@given(data=payload(max_size=3000), seed=st.integers(0, 2**32), slack=st.integers(-3, 3))
def test_malformed_blocks_stay_in_bounds(data, seed, slack):
    """Plain-Python decoder on guarded arrays: every access stays inside the frame's input and output."""
    rng = np.random.default_rng(seed)
    block = mutate(compress(data, 0), rng)
    nbytes = max(0, len(data) + slack)
    src = np.frombuffer(b"\xaa" * 5 + block + b"\xbb" * 5, np.uint8)
    out = np.zeros(nbytes + 10, np.uint8)
    with plain_python_kernels(klz4):
        code = klz4.decode_block(Guarded(src, 5, 5 + len(block)), 5, len(block), Guarded(out, 4, 4 + nbytes), 4,
                                 nbytes)
    compiled_out = np.zeros(nbytes + 10, np.uint8)
    assert code == klz4.decode_block(src, 5, len(block), compiled_out, 4, nbytes)
    ref = reference_decode(block, nbytes)
    # Whatever liblz4 accepts decodes alike; liblz4 alone accepts offset 0 and rejects some blocks that
    # break its end-of-block parsing rules (see kinonb.kernels.lz4).
    if ref is not None and code != klz4.BAD_OFFSET:
        assert code == klz4.OK
    if code == klz4.OK:
        np.testing.assert_array_equal(out, compiled_out)
        assert ref is None or out[4:4 + nbytes].tobytes() == ref
    else:
        assert code in klz4.ERRORS


def _guarded_decode(block: bytes, nbytes: int) -> int:
    src = np.frombuffer(b"\xaa" * 5 + block + b"\xbb" * 5, np.uint8)
    out = np.zeros(nbytes + 10, np.uint8)
    with plain_python_kernels(klz4):
        return klz4.decode_block(Guarded(src, 5, 5 + len(block)), 5, len(block), Guarded(out, 4, 4 + nbytes), 4,
                                 nbytes)


def _edge_payloads():
    """Short blocks whose last matches and literals sit near the end, where the bounds checks matter."""
    rng = np.random.default_rng(7)
    for period, reps, tail in ((1, 30, 5), (3, 9, 12), (7, 5, 13), (16, 3, 16), (20, 2, 14), (5, 60, 0)):
        head = np.resize(rng.integers(0, 256, period, dtype=np.uint8), period * reps).tobytes()
        yield head + rng.integers(0, 256, tail, dtype=np.uint8).tobytes()
    yield bytes(range(40)) * 2 + b"x" * 300  # a literal run and a match length past 15 (extension bytes)
    x = rng.integers(0, 256, 20, dtype=np.uint8).tobytes()
    yield x + x[:8] + b"12345"  # the last match starts 13 bytes before the end, the latest LZ4 allows


@pytest.mark.parametrize("data", list(_edge_payloads()), ids=lambda d: f"{len(d)}B")
def test_every_truncation_and_byte_edit_stays_in_bounds(data):
    """Exhaustive near-misses of valid blocks: each truncation and each byte set to a few values."""
    block = compress(data, 0)
    assert _guarded_decode(block, len(data)) == klz4.OK
    variants = [block[:i] for i in range(len(block))]
    for i in range(len(block)):
        for v in {0, 255, 15, 240, block[i] ^ 1, block[i] ^ 16}:
            variants.append(block[:i] + bytes([v]) + block[i + 1:])
    for variant in variants:
        for nbytes in (len(data) - 3, len(data), len(data) + 2):
            code = _guarded_decode(variant, max(nbytes, 0))
            assert code in klz4.ERRORS or code == klz4.OK


def test_compiled_fuzz_in_subprocess():
    """Thousands of malformed blocks through the compiled kernels; a stray access would kill the child."""
    script = textwrap.dedent(
        """
        import numpy as np, lz4.block
        from kinonb.kernels import lz4 as k
        rng = np.random.default_rng(0)
        bad = 0
        for i in range(3000):
            size = int(rng.integers(0, 3000))
            data = np.resize(rng.integers(0, 256, int(rng.integers(1, 50)), dtype=np.uint8), size).tobytes()
            block = bytearray(lz4.block.compress(data, store_size=False))
            for _ in range(int(rng.integers(1, 6))):
                j = int(rng.integers(0, len(block)))
                block[j] = int(rng.integers(0, 256))
            block = bytes(block[: int(rng.integers(1, len(block) + 1))])
            src = np.frombuffer(block * 4, np.uint8)
            offs = np.arange(4, dtype=np.int64) * len(block)
            lens = np.full(4, len(block), np.int64)
            try:
                ref = lz4.block.decompress(block, uncompressed_size=size)
            except lz4.block.LZ4BlockError:
                ref = None
            for fn in (k.lz4_decode_frames, k.lz4_decode_frames_parallel):
                out = np.zeros(4 * size, np.uint8)
                r = fn(src, offs, lens, size, out)
                bad += r >= 0
                if r < 0:
                    assert (out.reshape(4, size) == out[:size]).all()
                    assert ref is None or len(ref) != size or out[:size].tobytes() == ref
        # Ranges outside the source are refused too.
        out, one = np.zeros(8, np.uint8), lambda v: np.array([v], np.int64)
        assert k.lz4_decode_frames(np.zeros(4, np.uint8), one(3), one(2), 8, out) == 0
        assert k.lz4_decode_frames(np.zeros(4, np.uint8), one(-1), one(2), 8, out) == 0
        print("ok", bad)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("ok")


def test_error_names_the_frame(monkeypatch):
    good = compress(b"x" * 100, 0)
    bad = good[:-2]
    src, offsets, lengths = pack([good, good, bad, good, good], np.random.default_rng(0))
    for threshold in (0, 1 << 40):  # parallel and serial paths
        monkeypatch.setattr(klz4, "PARALLEL_MIN_BYTES", threshold)
        with pytest.raises(ValueError, match="frame 2 .* corrupt: the block ends inside a sequence"):
            klz4.decode_frames(src, offsets, lengths, 100)
    with pytest.raises(ValueError, match="frame 0 .* fewer bytes"):
        klz4.decode_frames(src, offsets[:1], lengths[:1], 101)
    with pytest.raises(ValueError, match="frame 0 .* more bytes"):
        klz4.decode_frames(src, offsets[:1], lengths[:1], 99)
    with pytest.raises(ValueError, match="frame 1 .* outside the source"):
        klz4.decode_frames(src, [offsets[0], len(src) - 1], [lengths[0], 2], 100)


def test_empty_frames():
    empty = compress(b"", 0)
    out = klz4.decode_frames(np.frombuffer(empty * 3, np.uint8), [0, 1, 2], [1, 1, 1], 0)
    assert out.shape == (0,)
    with pytest.raises(ValueError, match="frame 0"):
        klz4.decode_frames(np.zeros(0, np.uint8), [0], [0], 0)  # an empty block has no token


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(src=np.zeros(4, np.int8)), "src"),
        (dict(src=np.zeros((2, 2), np.uint8)), "src"),
        (dict(lengths=[1, 2]), "lengths"),
        (dict(frame_nbytes=-1), "frame_nbytes"),
        (dict(frame_nbytes=1.5), "frame_nbytes"),
        (dict(frame_nbytes=None), "frame_nbytes"),
        (dict(out=np.zeros(3, np.uint8)), "out"),
        (dict(out=np.zeros(4, np.float32)), "out"),
    ],
)
def test_decode_bad_arguments(kwargs, name):
    args = dict(src=np.zeros(4, np.uint8), offsets=[0], lengths=[1], frame_nbytes=4)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        klz4.decode_frames(**args)
