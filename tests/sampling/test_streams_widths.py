"""SampleIndex over mixed widths, own frame counts, streams and fixed-rate grids, against the plain-NumPy
reference of kinonb.testing.fake_source (an in-memory SampleSource)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kinonb.errors import InvalidArgumentError
from kinonb.sampling.index import SampleIndex
from kinonb.testing.fake_source import (
    FakeSource,
    _latest,
    reference_read,
    reference_samples,
)

OFFSETS = st.lists(st.integers(-5, 5), min_size=1, max_size=4)


@st.composite
def sources(draw, absent=False):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    eps = []
    for _ in range(draw(st.integers(1, 4))):
        t = draw(st.integers(0, 8))
        a = draw(st.sampled_from([2, 3]))
        extra = draw(st.integers(0, 1))  # states: a final observation row
        ep = {"length": t, "columns": {"actions": rng.standard_normal((t, a)).astype(np.float32),
                                       "states": rng.standard_normal((t + extra, 2)),
                                       "q": rng.integers(-9, 9, (t, 2, draw(st.integers(1, 3)))).astype(np.int16)}}
        if draw(st.booleans()):
            ep["fps"] = draw(st.sampled_from([5.0, 10.0]))
        else:
            ep["timestamps"] = 100.0 + np.cumsum(rng.choice([0.05, 0.1, 0.15], t)) if t else np.zeros(0)
        t0 = ep["timestamps"][0] if "timestamps" in ep and t else 0.0 if "fps" in ep else 100.0
        n = draw(st.integers(0 if absent else 1, 12))
        imu_t = np.sort(t0 - 0.2 + rng.random(n) * (0.15 * max(t, 1) + 0.4))
        if n or absent:
            if n:
                ep["streams"] = {"imu": (imu_t, rng.standard_normal((n, 3)).astype(np.float32))}
        if absent and draw(st.booleans()):
            del ep["columns"]["q"]
        eps.append(ep)
    return FakeSource(eps)


def check_batch(src, index, windows, rate, max_staleness, pad_dims, draw):
    if not len(index):
        return
    samples = draw.draw(st.lists(st.integers(0, len(index) - 1), min_size=1, max_size=6))
    pairs = [index.locate(i) for i in samples]
    want = reference_read(src, windows, pairs, index.episodes.tolist(), rate=rate, max_staleness=max_staleness,
                          pad_dims=pad_dims)
    got = index.read(samples)
    assert set(want) <= set(got)
    for k, v in want.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape, (k, got[k].shape, v.shape)
        np.testing.assert_array_equal(got[k], v, err_msg=k)
    assert not any(k.endswith("_dim_mask") and k not in want for k in got)
    if rate is not None:
        for j, (p, k) in enumerate(pairs):
            clock = src.clock(p)
            assert got["time"][j] == clock[0] + k / rate
            assert got["frame"][j] == _latest(clock, got["time"][j])


@given(sources(), st.fixed_dictionaries({"actions": OFFSETS, "states": OFFSETS, "q": OFFSETS, "imu": OFFSETS}),
       st.sampled_from(["edge", "none"]), st.none() | st.sampled_from([0.0, 0.08, 0.3]),
       st.sampled_from([None, {"actions": 4}]), st.data())
def test_frame_samples_match_reference(src, windows, pad, max_staleness, pad_dims, draw):
    eps = list(range(src.num_episodes()))
    index = SampleIndex(src, windows, pad=pad, max_staleness=max_staleness, pad_dims=pad_dims)
    assert [index.locate(i) for i in range(len(index))] == reference_samples(src, windows, eps, pad=pad)
    check_batch(src, index, windows, None, max_staleness, pad_dims, draw)


@given(sources(), st.fixed_dictionaries({"actions": OFFSETS, "states": OFFSETS, "q": OFFSETS, "imu": OFFSETS}),
       st.sampled_from([2.0, 7.0, 10.0, 20.0]), st.sampled_from(["edge", "none"]),
       st.none() | st.sampled_from([0.0, 0.12]), st.data())
def test_grid_samples_match_reference(src, windows, rate, pad, max_staleness, draw):
    eps = list(range(src.num_episodes()))
    index = SampleIndex(src, windows, rate=rate, pad=pad, max_staleness=max_staleness)
    assert [index.locate(i) for i in range(len(index))] == reference_samples(src, windows, eps, pad=pad, rate=rate)
    check_batch(src, index, windows, rate, max_staleness, None, draw)


@given(sources(absent=True), st.fixed_dictionaries({"actions": OFFSETS, "q": OFFSETS, "imu": OFFSETS}), st.data())
def test_missing_skip_drops_episodes_lacking_a_key(src, windows, draw):
    has = [p for p in range(src.num_episodes()) if all(src.values(p, k) is not None and len(src.values(p, k))
                                                         or (src.values(p, k) is not None and k != "imu"
                                                             and not src.episodes[p]["length"])
                                                         for k in windows)]
    if not has:
        with pytest.raises(InvalidArgumentError):
            SampleIndex(src, windows, missing="skip")
        return
    index = SampleIndex(src, windows, missing="skip")
    assert index.episodes.tolist() == has
    assert index.num_skipped == src.num_episodes() - len(has)
    if len(has) < src.num_episodes():
        with pytest.raises(InvalidArgumentError, match="episode"):
            SampleIndex(src, windows)
    check_batch(src, index, windows, None, None, None, draw)


def _two_widths():
    rng = np.random.default_rng(0)
    return FakeSource([{"length": 5, "fps": 10.0, "columns": {"actions": rng.standard_normal((5, 2))}},
                       {"length": 4, "fps": 10.0, "columns": {"actions": rng.standard_normal((4, 7))}}])


def test_mixed_widths_pad_to_the_batch_or_to_pad_dims():
    src = _two_widths()
    index = SampleIndex(src, {"actions": range(3)})
    b = index.read([0])  # a batch of the narrow episode only: its own width, still with a mask
    assert b["actions"].shape == (1, 3, 2) and b["actions_dim_mask"].all()
    b = index.read([0, 5])
    assert b["actions"].shape == (2, 3, 7) and b["actions_dim_mask"].sum(1).tolist() == [2, 7]
    assert (b["actions"][0, :, 2:] == 0).all()
    b = SampleIndex(src, {"actions": range(3)}, pad_dims={"actions": 9}).read([0, 5])
    assert b["actions"].shape == (2, 3, 9) and b["actions_dim_mask"].sum(1).tolist() == [2, 7]
    with pytest.raises(InvalidArgumentError, match=r"widths \[2, 7\]"):
        SampleIndex(src, {"actions": [0]}, pad_dims=False)
    with pytest.raises(InvalidArgumentError, match="episode 1 has width 7"):
        SampleIndex(src, {"actions": [0]}, pad_dims={"actions": 4})
    with pytest.raises(InvalidArgumentError, match="not a key of windows"):
        SampleIndex(src, {"actions": [0]}, pad_dims={"states": 4})
    fixed = SampleIndex(src, {"actions": [0]}, episodes=[0]).read([0])
    assert "actions_dim_mask" not in fixed  # one width: today's path, no mask


def test_shapes_differing_before_the_last_axis_are_refused():
    src = FakeSource([{"length": 2, "fps": 1.0, "columns": {"x": np.zeros((2, 2, 3))}},
                      {"length": 2, "fps": 1.0, "columns": {"x": np.zeros((2, 3, 3))}}])
    with pytest.raises(InvalidArgumentError, match=r"\(2, 3\), \(3, 3\)"):
        SampleIndex(src, {"x": [0]})


def test_bad_time_arguments():
    src = _two_widths()
    with pytest.raises(InvalidArgumentError, match="rate"):
        SampleIndex(src, {"actions": [0]}, rate=0)
    with pytest.raises(InvalidArgumentError, match="max_staleness"):
        SampleIndex(src, {"actions": [0]}, max_staleness=-1)
    with pytest.raises(InvalidArgumentError, match="no stream"):
        SampleIndex(src, {"actions": [0]}, max_staleness=0.1)
    with pytest.raises(InvalidArgumentError, match="missing"):
        SampleIndex(src, {"actions": [0]}, missing="drop")
    no_clock = FakeSource([{"length": 2, "columns": {"a": np.zeros((2, 1))}}])
    with pytest.raises(InvalidArgumentError, match="neither timestamps nor fps"):
        SampleIndex(no_clock, {"a": [0]}, rate=5)
