"""The multi-buffer window gather (kinonb/kernels/gather_shards.py) against the single-file gather, buffer by
buffer: compiled, plain Python, serial and split over threads, for any assignment of episodes to buffers."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from kinonb.kernels import gather_shards as gs
from kinonb.kernels.gather import gather_windows_serial


@given(lengths=st.lists(st.integers(1, 12), min_size=1, max_size=9), buffers=st.integers(1, 4),
       offsets=st.lists(st.integers(-6, 6), min_size=1, max_size=5), seed=st.integers(0, 2**16),
       batch=st.integers(0, 30))
def test_gathers_what_each_buffer_gathers_alone(lengths, buffers, offsets, seed, batch):
    rng = np.random.default_rng(seed)
    row = 3
    ep_buf = rng.integers(0, buffers, len(lengths)).astype(np.int64)
    flats, ep_start = [], np.zeros(len(lengths), np.int64)
    for p in range(buffers):
        mine = np.flatnonzero(ep_buf == p)
        sizes = np.array([lengths[e] * row for e in mine], np.int64)
        ep_start[mine] = np.concatenate([[0], np.cumsum(sizes)[:-1]]) + 5  # a few bytes before the first row
        flats.append(rng.normal(size=int(sizes.sum()) + 5).astype(np.float32))
    ep_len = np.array(lengths, np.int64)
    sample_ep = rng.integers(0, len(lengths), batch).astype(np.int64)
    sample_t = np.array([rng.integers(0, ep_len[e]) for e in sample_ep], np.int64)
    offsets = np.array(offsets, np.int64)
    want, want_pad = np.empty((batch, len(offsets), row), np.float32), np.empty((batch, len(offsets)), bool)
    for b in range(batch):  # each sample through the single-file kernel, from its own buffer
        e = sample_ep[b]
        one, one_pad = np.empty((1, len(offsets), row), np.float32), np.empty((1, len(offsets)), bool)
        gather_windows_serial(flats[ep_buf[e]], ep_start, ep_len, row, sample_ep[b:b + 1], sample_t[b:b + 1],
                              offsets, one, one_pad)
        want[b], want_pad[b] = one[0], one_pad[0]
    for run in (gs._serial, gs._serial.py_func, gs._parallel, gs._parallel.py_func):
        got, pad = np.full_like(want, np.nan), np.ones_like(want_pad)
        flat_list = gs.buffer_list(flats) if run in (gs._serial, gs._parallel) else list(flats)
        run(flat_list, ep_buf, ep_start, ep_len, row, sample_ep, sample_t, offsets, got, pad)
        assert np.array_equal(got, want) and np.array_equal(pad, want_pad)
