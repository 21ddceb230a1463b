"""Sample index and window gather kernels against plain-Python / NumPy references."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kinonb.kernels import gather
from kinonb.kernels.gather import (
    gather_windows,
    gather_windows_parallel,
    gather_windows_serial,
)
from kinonb.kernels.windows import build_sample_index, sample_index_arrays

lengths_st = st.lists(st.integers(0, 25), min_size=0, max_size=8)
offsets_st = st.lists(st.integers(-40, 40), min_size=1, max_size=8)
limit_st = st.none() | st.integers(0, 30)


def reference_index(lengths, offsets, pad, pad_before=None, pad_after=None):
    """Every frame of every episode, kept when each window offset meets the rule of the pad mode."""
    ep, t = [], []
    for e, n in enumerate(lengths):
        for f in range(n):
            if pad == "none":
                keep = all(0 <= f + o < n for o in offsets)
            else:
                keep = all(
                    (pad_before is None or f + o >= -pad_before) and (pad_after is None or f + o <= n - 1 + pad_after)
                    for o in offsets
                )
            if keep:
                ep.append(e)
                t.append(f)
    return np.array(ep, np.int64), np.array(t, np.int64)


def diffusion_policy_windows(lengths, horizon, pad_before, pad_after):
    """diffusion_policy's ``create_indices`` + ``sample_sequence``: per window, the frame each step reads."""
    pad_before = min(max(pad_before, 0), horizon - 1)
    pad_after = min(max(pad_after, 0), horizon - 1)
    windows = []
    for e, n in enumerate(lengths):
        for idx in range(-pad_before, n - horizon + pad_after + 1):
            buffer_start = max(idx, 0)
            buffer_end = min(idx + horizon, n)
            sample_start = buffer_start - idx
            sample_end = sample_start + (buffer_end - buffer_start)
            frames = list(range(buffer_start, buffer_end))
            # sample_sequence pads with the first / last real frame.
            frames = [frames[0]] * sample_start + frames + [frames[-1]] * (horizon - sample_end)
            windows.append((e, tuple(frames)))
    return windows


def reference_gather(flat, ep_start, ep_len, row_elems, sample_ep, sample_t, offsets):
    f = sample_t[:, None] + offsets[None, :]
    n = ep_len[sample_ep][:, None]
    is_pad = (f < 0) | (f >= n)
    f = np.clip(f, 0, n - 1)
    rows = ep_start[sample_ep][:, None] + f * row_elems
    out = flat[rows[..., None] + np.arange(row_elems)]
    return out.reshape(len(sample_ep), len(offsets), row_elems), is_pad


@given(lengths=lengths_st, offsets=offsets_st, pad=st.sampled_from(["edge", "none"]), pb=limit_st, pa=limit_st)
def test_index_matches_reference(lengths, offsets, pad, pb, pa):
    if pad == "none":
        pb = pa = None
    ep, t = build_sample_index(np.array(lengths, np.int64), min(offsets), max(offsets), pad, pb, pa)
    ref_ep, ref_t = reference_index(lengths, offsets, pad, pb, pa)
    np.testing.assert_array_equal(ep, ref_ep)
    np.testing.assert_array_equal(t, ref_t)
    assert ep.dtype == t.dtype == np.int64


@given(lengths=lengths_st, offsets=offsets_st, pb=limit_st, pa=limit_st)
def test_index_count_formula(lengths, offsets, pb, pa):
    """The per-episode count documented in kinonb.kernels.windows."""
    lo, hi = min(offsets), max(offsets)
    ep, _ = build_sample_index(lengths, lo, hi, "edge", pb, pa)
    for e, n in enumerate(lengths):
        first = 0 if pb is None else max(0, -lo - pb)
        last = n - 1 if pa is None else min(n - 1, n - 1 - hi + pa)
        assert np.count_nonzero(ep == e) == max(0, last - first + 1)
    ep, _ = build_sample_index(lengths, lo, hi, "none")
    for e, n in enumerate(lengths):
        assert np.count_nonzero(ep == e) == max(0, min(n, n - hi) - max(0, -lo))


@given(
    lengths=st.lists(st.integers(0, 40), max_size=6),
    n_obs=st.integers(1, 4),
    n_act=st.integers(1, 10),
    extra=st.integers(0, 6),
    pb_less=st.integers(0, 3),
    pa_less=st.integers(0, 9),
)
def test_index_equals_diffusion_policy(lengths, n_obs, n_act, extra, pb_less, pa_less):
    """Windows range(-(n_obs-1), horizon-(n_obs-1)) with pad_before <= n_obs-1 and pad_after <= hi:
    the same count as diffusion_policy's L - horizon + pad_before + pad_after + 1, and the same frames."""
    horizon = n_obs + n_act - 1 + extra
    lo, hi = -(n_obs - 1), horizon - n_obs
    pb = max(0, n_obs - 1 - pb_less)
    pa = max(0, min(n_act - 1, hi) - pa_less)
    ep, t = build_sample_index(lengths, lo, hi, "edge", pb, pa)
    for e, n in enumerate(lengths):
        assert np.count_nonzero(ep == e) == max(0, n - horizon + pb + pa + 1)
    # Gather frame numbers through the kernel and compare with the padded sequences diffusion_policy builds.
    lens = np.array(lengths, np.int64)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64) if len(lens) else lens
    flat = np.concatenate([np.arange(n) for n in lengths] + [np.zeros(0)]).astype(np.int64)
    offsets = np.arange(lo, hi + 1, dtype=np.int64)
    out = np.empty((len(ep), len(offsets), 1), np.int64)
    is_pad = np.empty((len(ep), len(offsets)), np.bool_)
    gather_windows(flat, starts, lens, 1, ep, t, offsets, out, is_pad)
    ours = [(int(e), tuple(int(x) for x in w)) for e, w in zip(ep, out[:, :, 0])]
    assert ours == diffusion_policy_windows(lengths, horizon, pb, pa)


def test_index_default_edge_keeps_every_frame():
    ep, t = build_sample_index([3, 0, 1, 2], -100, 100, "edge")
    np.testing.assert_array_equal(ep, [0, 0, 0, 2, 3, 3])
    np.testing.assert_array_equal(t, [0, 1, 2, 0, 0, 1])
    ep, t = build_sample_index([3, 0, 1, 2], -100, 100, "none")
    assert ep.size == t.size == 0


def test_index_arrays_equal_the_per_episode_rule():
    lengths, lo, hi = np.array([5, 1, 0, 9], np.int64), -2, 3
    for pad_before, pad_after in ((1, 2), (-1, -1), (0, 0), (-1, 5)):
        ep, t = [], []
        for e, n in enumerate(lengths.tolist()):  # the rule as the module docstring states it
            first = 0 if pad_before == -1 else max(0, -lo - pad_before)
            last = n - 1 if pad_after == -1 else min(n - 1, n - 1 - hi + pad_after)
            ep += [e] * max(0, last - first + 1)
            t += list(range(first, last + 1))
        got = sample_index_arrays(lengths, lo, hi, pad_before, pad_after)
        assert got[0].tolist() == ep and got[1].tolist() == t


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(lengths=[[1, 2]]), "lengths"),
        (dict(lengths=[1.5]), "lengths"),
        (dict(lengths=[3, -1]), "lengths"),
        (dict(offsets_lo=1.5), "offsets_lo"),
        (dict(offsets_hi="3"), "offsets_hi"),
        (dict(offsets_lo=True), "offsets_lo"),
        (dict(offsets_lo=4, offsets_hi=3), "offsets_lo"),
        (dict(offsets_hi=1 << 63), "offsets_hi"),
        (dict(pad="clamp"), "pad"),
        (dict(pad_before=-1), "pad_before"),
        (dict(pad_after=2.0), "pad_after"),
        (dict(pad="none", pad_after=0), "pad_after"),
    ],
)
def test_index_bad_arguments(kwargs, name):
    args = dict(lengths=[3, 4], offsets_lo=-1, offsets_hi=2, pad="edge")
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        build_sample_index(**args)


@st.composite
def gather_case(draw, dtypes=(np.float32, np.uint8, np.int64)):
    lengths = draw(st.lists(st.integers(1, 12), min_size=1, max_size=5))
    row_elems = draw(st.integers(0, 5))
    dtype = draw(st.sampled_from(dtypes))
    gaps = draw(st.lists(st.integers(0, 3), min_size=len(lengths), max_size=len(lengths)))
    ep_start, pos = [], draw(st.integers(0, 4))
    for n, gap in zip(lengths, gaps):
        ep_start.append(pos)
        pos += n * row_elems + gap
    flat = (np.arange(pos + 2) * 7 % 251).astype(dtype)
    B = draw(st.integers(0, 12))
    sample_ep = np.array(draw(st.lists(st.integers(0, len(lengths) - 1), min_size=B, max_size=B)), np.int64)
    sample_t = np.array([draw(st.integers(0, lengths[e] - 1)) for e in sample_ep], np.int64)
    runs = st.builds(lambda a, k: list(range(a, a + k)), st.integers(-15, 15), st.integers(1, 20))
    offsets = np.array(draw(offsets_st | runs), np.int64)  # runs take the one-copy path of the kernel
    return flat, np.array(ep_start, np.int64), np.array(lengths, np.int64), row_elems, sample_ep, sample_t, offsets


def _run(fn, case):
    flat, ep_start, ep_len, row_elems, sample_ep, sample_t, offsets = case
    out = np.full((len(sample_ep), len(offsets), row_elems), 99, flat.dtype)
    is_pad = np.ones((len(sample_ep), len(offsets)), np.bool_)
    fn(flat, ep_start, ep_len, row_elems, sample_ep, sample_t, offsets, out, is_pad)
    return out, is_pad


@given(case=gather_case())
def test_gather_matches_reference(case):
    out, is_pad = _run(gather_windows_serial, case)
    ref_out, ref_pad = reference_gather(*case)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(is_pad, ref_pad)


@given(case=gather_case(dtypes=(np.float32,)))
def test_gather_parallel_matches_reference(case):
    out, is_pad = _run(gather_windows_parallel, case)
    ref_out, ref_pad = reference_gather(*case)
    np.testing.assert_array_equal(out, ref_out)
    np.testing.assert_array_equal(is_pad, ref_pad)


def test_gather_compiled_equals_py_func_and_chooser(monkeypatch):
    lengths = np.array([1, 5, 3], np.int64)
    starts = np.array([0, 4, 24], np.int64)
    flat = np.arange(40, dtype=np.float32)
    flat.flags.writeable = False  # the reader hands out read-only memmap views
    case = (flat, starts, lengths, 4, np.array([0, 1, 2, 1], np.int64), np.array([0, 4, 1, 0], np.int64),
            np.array([-3, 0, 2, 7], np.int64))
    ref = reference_gather(*case)
    for fn in (gather_windows_serial, gather_windows_serial.py_func, gather_windows_parallel.py_func,
               gather_windows_parallel):
        for got, want in zip(_run(fn, case), ref):
            np.testing.assert_array_equal(got, want)
    for threshold in (0, 1 << 40):
        monkeypatch.setattr(gather, "PARALLEL_MIN_ELEMS", threshold)
        for got, want in zip(_run(gather_windows, case), ref):
            np.testing.assert_array_equal(got, want)
