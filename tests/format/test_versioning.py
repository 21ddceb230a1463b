"""Versioning (issue 13 req 7): a file that uses no 1.1 feature is a 1.0 file (trailer minor 0, 8 sections);
any 1.1 feature makes its commit minor 1, and later commits stay 1.1. As format_spec.md §4 says, the 9th
section (block_shapes) is written exactly when some column has per-episode shapes or frame counts; a 1.1 commit
without one (float16 actions, timestamps, no actions, ...) has 8."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kinonb
from kinonb.format import layout as L
from kinonb.testing import episodes, episodes_1_1, file_schemas, file_schemas_1_1

FEW = settings(max_examples=max(1, settings().max_examples // 4), deadline=None)


def last_commit_version(path) -> tuple[int, int, int]:
    """(trailer minor, footer num_sections, header minor) of the file's last commit."""
    raw = open(path, "rb").read()
    t = np.frombuffer(raw[-L.TRAILER.itemsize:], L.TRAILER)[0]
    fo = int(t["footer_offset"])
    head = np.frombuffer(raw[fo : fo + L.FOOTER_HEADER.itemsize], L.FOOTER_HEADER)[0]
    header = np.frombuffer(raw[: L.HEADER.itemsize], L.HEADER)[0]
    return int(t["minor"]), int(head["num_sections"]), int(header["minor"])


@st.composite
def datasets_1_0(draw):
    schema = draw(file_schemas(max_dim=6))
    eps = [draw(episodes(schema, max_frames=20)) for _ in range(draw(st.integers(1, 4)))]
    return schema, eps, draw(st.sets(st.integers(0, len(eps) - 1), max_size=2))


@FEW
@given(datasets_1_0())
def test_1_0_features_only_write_1_0_commits(tmp_path_factory, data):
    schema, eps, commit_after = data
    path = tmp_path_factory.mktemp("v") / "d.knb"
    with kinonb.create(path, compression=schema["compression"], sync=False) as w:
        assert last_commit_version(path) == (0, 8, 0)
        for i, ep in enumerate(eps):
            w.add_episode(**ep)
            if i in commit_after:
                w.commit()
                assert last_commit_version(path) == (0, 8, 0)
    assert last_commit_version(path) == (0, 8, 0)
    assert kinonb.open(path).version() == "1.0"


def _f16(t=2, w=2):
    return np.zeros((t, w), np.float16)


#: Features that need per-block shapes or frame counts: their commits have the 9th section, block_shapes.
PER_BLOCK = {"action width changes", "state width changes", "states T + 1", "extra T + 1", "extra shape changes",
             "stream", "empty stream", "episode array", "camera resolution changes"}
#: Each feature: episodes whose last one is the first to use it (those before use only 1.0 features).
A = dict(actions=np.zeros((2, 2), np.float32))
FEATURES = {
    "float16 actions": [dict(actions=_f16())],
    "float64 states": [A, dict(actions=A["actions"], states=np.zeros((2, 3)))],
    "float64 rewards": [dict(actions=A["actions"], rewards=np.zeros(2))],
    "no actions": [A, dict(states=np.zeros((2, 1), np.float32))],
    "action width changes": [A, dict(actions=np.zeros((2, 3), np.float32))],
    "state width changes": [dict(A, states=np.zeros((2, 1), np.float32)), dict(A, states=np.zeros((2, 2), np.float32))],
    "states T + 1": [A, dict(A, states=np.zeros((3, 1), np.float32))],
    "extra T + 1": [A, dict(A, columns={"x": np.zeros((3, 1), np.int8)})],
    "extra shape changes": [dict(A, columns={"x": np.zeros((2, 1))}), dict(A, columns={"x": np.zeros((2, 4))})],
    "timestamps": [A, dict(A, timestamps=np.array([0.0, 0.1]))],
    "int64 timestamps": [A, dict(A, timestamps=np.array([0, 10], np.int64))],
    "stream": [A, dict(A, streams={"imu": (np.array([0.0, 1.0, 2.0]), np.zeros((3, 6), np.float32))})],
    "empty stream": [A, dict(A, streams={"imu": (np.zeros(0), np.zeros((0, 6), np.float32))})],
    "episode array": [A, dict(A, episode_arrays={"q": np.zeros(7)})],
    "camera resolution changes": [dict(A, images={"top": np.zeros((2, 4, 4, 3), np.uint8)}),
                                  dict(A, images={"top": np.zeros((2, 8, 6, 3), np.uint8)})],
}


@pytest.mark.parametrize("compression", [None, "lz4"])
@pytest.mark.parametrize("feature", sorted(FEATURES))
def test_any_1_1_feature_makes_a_1_1_commit(tmp_path, feature, compression):
    path = tmp_path / "d.knb"
    *before, last = FEATURES[feature]
    with kinonb.create(path, sync=False, compression=compression) as w:
        for ep in before:
            w.add_episode(**ep)
        w.commit()
        assert last_commit_version(path) == (0, 8, 0)
        w.add_episode(**last)
    want = (1, 9 if feature in PER_BLOCK else 8, 0)
    assert last_commit_version(path) == want
    assert kinonb.open(path).version() == "1.1"
    with kinonb.append(path, sync=False) as w:  # 1.0-only episodes appended to a 1.1 file: still 1.1
        w.add_episode(**A)
    assert last_commit_version(path) == want
    assert kinonb.validate(path, deep=True).ok


def test_requested_cast_makes_a_1_1_commit(tmp_path):
    path = tmp_path / "d.knb"
    with kinonb.create(path, sync=False, dtypes={"actions": "float16"}) as w:
        w.add_episode(actions=np.full((2, 2), 0.1, np.float32))
    assert last_commit_version(path) == (1, 8, 0)
    assert kinonb.open(path).schema()[0]["cast_from"] == "float32"


@FEW
@given(schema=file_schemas_1_1(), data=st.data())
def test_appending_1_0_episodes_to_a_1_1_file_stays_1_1(tmp_path_factory, schema, data):
    path = tmp_path_factory.mktemp("v") / "d.knb"
    with kinonb.create(path, sync=False, dtypes=schema["request"], compression=schema["compression"]) as w:
        w.add_episode(**data.draw(episodes_1_1(schema)))
        w.add_episode(actions=np.zeros((1, 2), np.float32), streams={"clock": (np.zeros(1), np.zeros(1))})  # 1.1
    assert last_commit_version(path) == (1, 9, 0)
    plain = data.draw(st.lists(st.builds(lambda t: dict(actions=np.zeros((t, 2), np.float32)), st.integers(1, 5)),
                               min_size=1, max_size=3))
    for ep in plain:
        with kinonb.append(path, sync=False) as w:
            w.add_episode(**ep)
        assert last_commit_version(path) == (1, 9, 0)
    assert kinonb.open(path).version() == "1.1"
