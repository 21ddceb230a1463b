"""Prefetching what a sampler will read (kinonb/store/page_cache.py, issue 18 req 3): the ranges asked for cover
exactly the low-dim blocks of the sampled episodes, a cold file's blocks are in the page cache after it, and
reads never depend on it."""

from __future__ import annotations

import mmap
import os
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kinonb
from kinonb.store import page_cache

PAGE = mmap.PAGESIZE


@given(ranges=st.lists(st.tuples(st.integers(-10, 40 * PAGE), st.integers(0, 6 * PAGE)), max_size=30),
       gap=st.sampled_from([0, PAGE, 3 * PAGE]))
def test_merged_ranges_are_the_page_aligned_union(ranges, gap):
    size = 36 * PAGE
    starts = np.array([r[0] for r in ranges], np.int64)
    lengths = np.array([r[1] for r in ranges], np.int64)
    lo, hi = page_cache.merged_ranges(starts, lengths, size, gap)
    want = np.zeros(size // PAGE, bool)  # pages some non-empty range inside the file touches
    for s, n in ranges:
        e = min(s + n, size)
        if s >= 0 and e > s:
            want[s // PAGE : -(-e // PAGE)] = True
    got = np.zeros(size // PAGE, bool)
    for a, b in zip(lo, hi):
        assert a % PAGE == 0 and (b % PAGE == 0 or b == size) and a < b <= size
        got[a // PAGE : -(-b // PAGE)] = True
    assert not (want & ~got).any()  # every wanted page is asked for
    assert np.all(lo[1:] > hi[:-1] + gap)  # merged: sorted, apart by more than the gap
    extra = got & ~want  # pages asked for beyond the wanted ones lie only in the gaps that were merged
    assert extra.sum() <= max(0, len(ranges) - 1) * -(-gap // PAGE)


def _file(path, episodes=40, frames=50):
    rng = np.random.default_rng(0)
    with kinonb.create(path) as w:
        for _ in range(episodes):
            w.add_episode(actions=rng.standard_normal((frames, 7)).astype(np.float32),
                          states=rng.standard_normal((frames, 32)).astype(np.float32),
                          images={"top": rng.integers(0, 255, (frames, 32, 32, 3), np.uint8)})


def test_prefetch_asks_for_the_low_dim_blocks_only(tmp_path):
    _file(tmp_path / "a.knb")
    db = kinonb.open(tmp_path / "a.knb")
    index = db.sample_index({"actions": range(4), "states": [0], "top": [0]}, episodes=[3, 9, 10])
    asked = []
    real = page_cache.will_need
    page_cache_calls = lambda path, lo, hi: asked.append((lo.copy(), hi.copy())) or real(path, lo, hi)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("kinonb.store.reader.will_need", page_cache_calls)
        nbytes = index.prefetch()
    (lo, hi), = asked
    assert nbytes == int((hi - lo).sum()) > 0
    low_dim = sum(50 * 4 * (7 + 32) for _ in range(3))
    camera_bytes = 50 * 32 * 32 * 3
    assert low_dim <= nbytes < low_dim + 3 * 2 * PAGE + camera_bytes  # the camera's blocks are not asked for
    before = index.read(np.arange(len(index)))
    assert all(np.array_equal(before[k], index.read(np.arange(len(index)))[k]) for k in ("actions", "states"))


def test_prefetch_does_nothing_without_fadvise(tmp_path, monkeypatch):
    _file(tmp_path / "b.knb", episodes=3)
    index = kinonb.open(tmp_path / "b.knb").sample_index({"actions": range(2)})
    monkeypatch.delattr(os, "posix_fadvise")
    assert index.prefetch() == 0


def _cached(path, lo, hi) -> bool:
    """Whether every byte range is in the page cache (a RWF_NOWAIT read fails with EAGAIN otherwise)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        for a, b in zip(lo.tolist(), hi.tolist()):
            buf = bytearray(b - a)
            try:
                if os.preadv(fd, [buf], a, os.RWF_NOWAIT) < len(buf):
                    return False
            except BlockingIOError:
                return False
    finally:
        os.close(fd)
    return True


@pytest.mark.skipif(not hasattr(os, "RWF_NOWAIT"), reason="needs preadv(RWF_NOWAIT) to see the page cache")
def test_a_cold_file_has_its_low_dim_blocks_cached_after_prefetch(tmp_path):
    path = tmp_path / "c.knb"
    _file(path, episodes=60)
    db = kinonb.open(path)
    index = db.sample_index({"actions": range(4), "states": [0]})
    keys = list(index.keys.values())
    lo, hi = page_cache.merged_ranges(np.concatenate([k.byte_starts for k in keys]),
                                      np.concatenate([k.byte_lengths for k in keys]), os.path.getsize(path))
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    if _cached(path, lo, hi):
        pytest.skip("this filesystem keeps the file in memory (tmpfs?): nothing to prefetch")
    assert index.prefetch() == int((hi - lo).sum())
    deadline = time.monotonic() + 20  # the kernel reads in the background: wait for it, bounded
    while not _cached(path, lo, hi) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _cached(path, lo, hi)
