"""Mixed-width and latest-at gather kernels against NumPy references; compiled, plain-Python and split runs."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from kinonb.kernels import latest, padded
from kinonb.kernels.latest import TIME_TOLERANCE, latest_at


@st.composite
def padded_case(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    e = draw(st.integers(1, 4))
    lead = draw(st.integers(1, 3))
    count = rng.integers(1, 9, e)
    dims = rng.integers(1, 5, e)
    width = int(dims.max()) + draw(st.integers(0, 2))
    sizes = count * lead * dims
    ep_start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) + 1
    flat = rng.standard_normal(int(sizes.sum()) + 1).astype(draw(st.sampled_from([np.float32, np.float64])))
    b = draw(st.integers(1, 6))
    sample_ep = rng.integers(0, e, b).astype(np.int64)
    sample_t = rng.integers(-2, 10, b).astype(np.int64)
    offsets = np.array(draw(st.lists(st.integers(-4, 4), min_size=1, max_size=5)), np.int64)
    return flat, ep_start, count.astype(np.int64), dims.astype(np.int64), lead, width, sample_ep, sample_t, offsets


def reference_padded(flat, ep_start, count, dims, lead, width, sample_ep, sample_t, offsets):
    out = np.zeros((len(sample_ep), len(offsets), lead, width), flat.dtype)
    f = sample_t[:, None] + offsets[None, :]
    n = count[sample_ep][:, None]
    is_pad = (f < 0) | (f >= n)
    f = np.clip(f, 0, n - 1)
    for b, e in enumerate(sample_ep):
        d = dims[e]
        frames = flat[ep_start[e] : ep_start[e] + count[e] * lead * d].reshape(count[e], lead, d)
        out[b, :, :, :d] = frames[f[b]]
    return out.reshape(len(sample_ep), len(offsets), lead * width), is_pad


@given(padded_case())
def test_gather_padded_matches_numpy(case):
    want, want_pad = reference_padded(*case)
    flat = case[0]
    zero = np.zeros(1, flat.dtype)
    for fn in (padded.gather_padded_serial, padded.gather_padded_parallel, padded.gather_padded_serial.py_func):
        out = np.full_like(want, np.nan)
        is_pad = np.empty(want_pad.shape, np.bool_)
        fn(*case[:8], case[8], zero, out, is_pad)
        np.testing.assert_array_equal(out, want)
        np.testing.assert_array_equal(is_pad, want_pad)


@st.composite
def segments_case(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    e = draw(st.integers(1, 4))
    length = rng.integers(0, 8, e).astype(np.int64)
    times = np.concatenate([np.sort(rng.choice([0.0, 0.1, 0.2, 0.3, 0.5, 0.7], n)) for n in length])
    start = np.concatenate([[0], np.cumsum(length)[:-1]]).astype(np.int64)
    return times, start, length


@given(segments_case(), st.data())
def test_latest_at_matches_searchsorted(seg, data):
    times, start, length = seg
    m = data.draw(st.integers(0, 8))
    rng = np.random.default_rng(m)
    sample = rng.integers(0, len(length), m).astype(np.int64)
    query = rng.choice([-0.1, 0.0, 0.1, 0.15, 0.3 - 1e-12, 0.7, 1.0], m)
    want = np.array([np.searchsorted(times[start[e] : start[e] + length[e]], q + TIME_TOLERANCE, "right") - 1
                     for e, q in zip(sample, query)], np.int64)
    for fn in (latest_at, latest_at.py_func):
        out = np.empty(m, np.int64)
        fn(times, start, length, sample, query, TIME_TOLERANCE, out)
        np.testing.assert_array_equal(out, want)


def test_gather_latest_compiled_equals_py_func_and_split():
    rng = np.random.default_rng(3)
    length = np.array([5, 3], np.int64)
    times = np.array([0.0, 0.1, 0.2, 0.35, 0.4, 1.0, 1.05, 1.3])
    start = np.array([0, 5], np.int64)
    dims, lead, width = np.array([2, 3], np.int64), 1, 3
    flat = rng.standard_normal(5 * 2 + 3 * 3).astype(np.float32)
    ep_start = np.array([0, 10], np.int64)
    t0, t_end = np.array([0.0, 1.0]), np.array([0.4, 1.3])
    sample_ep = np.array([0, 1, 0, 1], np.int64)
    sample_k = np.array([0, 2, 3, 0], np.int64)
    offsets = np.array([-1, 0, 1, 2], np.int64)
    zero = np.zeros(1, np.float32)
    results = []
    for fn in (latest.gather_latest_serial, latest.gather_latest_parallel, latest.gather_latest_serial.py_func):
        out = np.empty((4, 4, 3), np.float32)
        is_pad = np.empty((4, 4), np.bool_)
        fn(flat, ep_start, dims, lead, width, times, start, length, t0, t_end, 10.0, TIME_TOLERANCE, 0.08,
           sample_ep, sample_k, offsets, zero, out, is_pad)
        results.append((out, is_pad))
    for out, is_pad in results[1:]:
        np.testing.assert_array_equal(out, results[0][0])
        np.testing.assert_array_equal(is_pad, results[0][1])
    out, is_pad = results[0]
    # episode 0, k=3 (t=0.3): offsets -1..2 -> 0.2 (frame 2), 0.3 (frame 2, 0.1 old: stale), 0.4 (4), 0.5 (past end)
    assert is_pad[2].tolist() == [False, True, False, True]
    np.testing.assert_array_equal(out[2, 0, :2], flat[4:6])
    assert (out[2, :, 2] == 0).all()
    assert is_pad[3, 0]  # before the first time of episode 1
