"""pack_blocks (issue 18 req 4): bytes copied to their places, CRC-32 equal to zlib's, compiled and Python bodies
alike."""

import zlib

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from kinonb.kernels.blocks import TABLES, pack_blocks


@given(sizes=st.lists(st.integers(0, 70), min_size=1, max_size=12), seed=st.integers(0, 2**32 - 1),
       gap=st.integers(0, 9))
def test_pack_copies_and_checksums_like_zlib(sizes, seed, gap):
    sizes = np.array(sizes, np.int64)
    src = np.random.default_rng(seed).integers(0, 256, int(sizes.sum()) + 3, dtype=np.uint8)
    src_starts = 3 + np.cumsum(sizes) - sizes
    dst_starts = np.cumsum(sizes + gap) - sizes - gap
    for fn in (pack_blocks, pack_blocks.py_func):
        dst = np.zeros(int((sizes + gap).sum()), np.uint8)
        crcs = np.empty(len(sizes), np.uint32)
        fn(src, src_starts, sizes, dst, dst_starts, TABLES, crcs)
        for b, (s, d, n) in enumerate(zip(src_starts, dst_starts, sizes)):
            assert bytes(dst[d : d + n]) == bytes(src[s : s + n])
            assert int(crcs[b]) == zlib.crc32(bytes(src[s : s + n]))
        mask = np.ones(len(dst), bool)
        for d, n in zip(dst_starts, sizes):
            mask[d : d + n] = False
        assert not dst[mask].any()  # padding untouched
