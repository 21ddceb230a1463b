"""db.sample_index(...).read(...) against a plain-numpy reference over arbitrary files and windows."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import kinonb

OFFSETS = st.lists(st.integers(-6, 6), min_size=1, max_size=5)


@st.composite
def files(draw):
    n = draw(st.integers(1, 4))
    a = draw(st.integers(0, 4))
    h, w, c = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.sampled_from([1, 3, 4]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    eps = []
    for _ in range(n):
        t = draw(st.integers(1, 12))
        eps.append(dict(actions=rng.standard_normal((t, a)).astype(np.float32),
                        columns={"q": rng.integers(-9, 9, (t, 2)).astype(np.int16)},
                        images={"cam": rng.integers(0, 256, (t, h, w, c), dtype=np.uint8)}))
    return eps, draw(st.sampled_from([None, "lz4"]))


def reference(eps, positions, windows, pad, samples):
    lo = min(min(o) for o in windows.values())
    hi = max(max(o) for o in windows.values())
    rows = []
    for p in positions:
        t_len = len(eps[p]["actions"])
        for t in range(t_len):
            if pad == "none" and (t + lo < 0 or t + hi > t_len - 1):
                continue
            rows.append((p, t))
    out = {}
    for key, offs in windows.items():
        vals, pads = [], []
        for s in samples:
            p, t = rows[s]
            t_len = len(eps[p]["actions"])
            src = {"actions": eps[p]["actions"], "q": eps[p]["columns"]["q"], "cam": eps[p]["images"]["cam"]}[key]
            f = np.array([t + o for o in offs])
            vals.append(src[np.clip(f, 0, t_len - 1)])
            pads.append((f < 0) | (f > t_len - 1))
        out[key] = np.stack(vals) if vals else None
        out[f"{key}_is_pad"] = np.stack(pads) if pads else None
    return rows, out


@given(files(), st.fixed_dictionaries({"actions": OFFSETS, "q": OFFSETS, "cam": OFFSETS}),
       st.sampled_from(["edge", "none"]), st.data())
def test_read_matches_numpy_reference(tmp_path_factory, data, windows, pad, draw):
    eps, compression = data
    path = tmp_path_factory.mktemp("s") / "d.knb"
    with kinonb.create(path, compression=compression) as w:
        for ep in eps:
            w.add_episode(**ep)
    db = kinonb.open(path)
    positions = sorted(draw.draw(st.sets(st.integers(0, len(eps) - 1), min_size=1)))
    index = db.sample_index(windows, pad=pad, episodes=positions)
    rows, _ = reference(eps, positions, windows, pad, [])
    assert len(index) == len(rows)
    assert [index.locate(i) for i in range(len(index))] == rows
    if not rows:
        return
    samples = draw.draw(st.lists(st.integers(0, len(rows) - 1), min_size=1, max_size=8))
    _, want = reference(eps, positions, windows, pad, samples)
    got = index.read(samples)
    for key in windows:
        assert got[key].dtype == want[key].dtype and np.array_equal(got[key], want[key]), key
        assert np.array_equal(got[f"{key}_is_pad"], want[f"{key}_is_pad"]), key
    # resized / CHW / normalised cameras equal kinonb.resize of the same frames
    got = index.read(samples, image_size=(3, 4), layout="CHW", normalize=True, mode="bilinear")
    frames = want["cam"].reshape(-1, *want["cam"].shape[2:])
    ref = kinonb.resize(frames, (3, 4), "bilinear", layout="CHW", normalize=True)
    np.testing.assert_array_equal(got["cam"].reshape(ref.shape), ref)
    # out= buffers are filled in place and returned
    bufs = {"actions": np.empty_like(want["actions"])}
    again = index.read(samples, out=bufs)
    assert again["actions"] is bufs["actions"] and np.array_equal(bufs["actions"], want["actions"])


def test_edge_count_matches_diffusion_policy(tmp_path):
    """pad_before = n_obs - 1, pad_after = n_act - 1: diffusion_policy's L - horizon + pad_before + pad_after + 1."""
    with kinonb.create(tmp_path / "d.knb") as w:
        for t_len in (1, 5, 16, 40):
            w.add_episode(actions=np.zeros((t_len, 2), np.float32))
    db = kinonb.open(tmp_path / "d.knb")
    n_obs, n_act, horizon = 2, 8, 16
    index = db.sample_index({"states_like": None} if False else {"actions": range(-(n_obs - 1), horizon - n_obs + 1)},
                            pad_before=n_obs - 1, pad_after=n_act - 1)
    want = sum(max(0, t_len - horizon + (n_obs - 1) + (n_act - 1) + 1) for t_len in (1, 5, 16, 40))
    assert len(index) == want
    assert len(db.sample_index({"actions": range(16)})) == 1 + 5 + 16 + 40  # pad="edge": every frame
    assert len(db.sample_index({"actions": range(16)}, pad="none")) == 0 + 0 + 1 + 25


def test_bad_arguments(tmp_path):
    with kinonb.create(tmp_path / "d.knb") as w:
        w.add_episode(actions=np.zeros((4, 2), np.float32), images={"top": np.zeros((4, 2, 2, 3), np.uint8)})
        w.add_episode(actions=np.zeros((4, 2), np.float32))
    db = kinonb.open(tmp_path / "d.knb")
    with pytest.raises(ValueError, match="unknown key 'nope'"):
        db.sample_index({"nope": [0]})
    with pytest.raises(ValueError, match=r"windows\['actions'\] must be a non-empty"):
        db.sample_index({"actions": []})
    with pytest.raises(ValueError, match="absent from episode 1"):
        db.sample_index({"top": [0]})
    with pytest.raises(IndexError, match="episodes"):
        db.sample_index({"actions": [0]}, episodes=[5])
    index = db.sample_index({"actions": [0], "top": [0]}, episodes=[0])
    with pytest.raises(IndexError, match="sample_ids"):
        index.read([4])
    with pytest.raises(IndexError, match="sample_ids"):
        index.read([-1])
    with pytest.raises(ValueError, match="image_size"):
        index.read([0], image_size=(0, 4))
    with pytest.raises(ValueError, match="'actions' is not a camera"):
        index.read([0], image_size={"actions": (4, 4)})
    with pytest.raises(ValueError, match="layout"):
        index.read([0], layout="WHC")
    with pytest.raises(ValueError, match=r"out\['actions'\]"):
        index.read([0], out={"actions": np.empty((2, 1, 2), np.float32)})
    with pytest.raises(IndexError):
        index.locate(10)
