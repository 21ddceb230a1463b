"""Round trips of format 1.1 episodes (issue 13 req 9): mixed widths and dtypes, optional actions, T + 1 rows,
timestamps, streams with their own counts, episode arrays, per-episode camera resolutions, against the plain
model of kinonb.testing (the add_episode kwargs, stored_dtypes, file_keys)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import kinonb
from kinonb.testing import (
    assert_episode_equal,
    episode_length,
    episodes_1_1,
    file_keys,
    file_schemas_1_1,
    same_bits,
    stored_dtypes,
)

FEW = settings(max_examples=max(1, settings().max_examples // 2), deadline=None)


@st.composite
def datasets_1_1(draw):
    schema = draw(file_schemas_1_1())
    eps = []
    for _ in range(draw(st.integers(1, 5))):
        established = frozenset(k for k in ("actions", "states", "rewards") if any(k in e for e in eps))
        eps.append(draw(episodes_1_1(schema, established=established)))
    return schema, eps, draw(st.sets(st.integers(0, len(eps) - 1), max_size=2))


@FEW
@given(datasets_1_1())
def test_roundtrip_1_1_bit_for_bit(tmp_path_factory, data):
    schema, eps, commit_after = data
    path = tmp_path_factory.mktemp("rt") / "d.knb"
    with kinonb.create(path, compression=schema["compression"], dtypes=schema["request"], sync=False) as w:
        for i, ep in enumerate(eps):
            w.add_episode(**ep)
            if i in commit_after:
                w.commit()
    db = kinonb.open(path)
    dtypes, keys = stored_dtypes(eps, schema["request"]), file_keys(eps)
    assert db.num_episodes() == len(eps)
    assert db.num_frames() == sum(episode_length(ep) for ep in eps)
    for i, ep in enumerate(eps):
        assert_episode_equal(db.read_episode(i), ep, dtypes=dtypes, keys=keys)
        assert_episode_equal(db.read_episode_actions_only(i), ep, dtypes=dtypes, keys=keys, with_images=False)
        for name, (times, values) in (ep.get("streams") or {}).items():
            assert same_bits(db.frames(i, name), values)
            assert same_bits(db.frames(i, name, 1, 3), values[1:3])
    for key, dim in (("actions", "action_dim"), ("states", "state_dim")):
        widths = [0 if ep.get(key) is None else ep[key].shape[1] for ep in eps]
        assert [db.read_meta(i)[dim] for i in range(len(eps))] == widths
        for w in set(widths):
            assert db.query(f"{dim} = {w}") == [i for i, x in enumerate(widths) if x == w]
    report = kinonb.validate(path, deep=True)
    assert report.ok, report.errors


def test_episode_array_of_shape_0d_is_an_array(tmp_path):
    path = tmp_path / "d.knb"
    with kinonb.create(path) as w:
        w.add_episode(actions=np.zeros((1, 1), np.float32), episode_arrays={"seed": np.int64(7)})
    got = kinonb.open(path).read_episode(0)["episode_arrays"]["seed"]
    assert isinstance(got, np.ndarray) and got.shape == () and got.dtype == np.int64 and int(got) == 7
