"""KQL over episodes of different widths: action_dim / state_dim are each episode's own, in a .knb file and in the
.kdb it exports to (same positions), and they agree with a plain list model of the widths."""

from __future__ import annotations

import json

import numpy as np
import pytest

import kinonb
from kinonb.interop import KdbDatabase
from kinonb.ops.export import export_kdb

# (action_dim, state_dim) per episode; None: no states (the .kdb export has state_dim 0 there).
DIMS = [(3, 2), (5, None), (3, 0), (1, 4), (7, 2), (3, None)]
QUERIES = ["action_dim = 3", "action_dim = 5", "action_dim != 3", "action_dim > 2", "action_dim < 4",
           "action_dim >= 5 AND success = true", "state_dim = 0", "state_dim = 2", "state_dim > 1 AND action_dim = 3",
           "action_dim = 0", "num_frames > 4"]


@pytest.fixture
def mixed(tmp_path):
    rng = np.random.default_rng(0)
    with kinonb.create(tmp_path / "m.knb") as w:
        for i, (a, s) in enumerate(DIMS):
            t = 3 + i
            w.add_episode(actions=rng.normal(size=(t, a)).astype(np.float32), success=bool(i % 2),
                          states=None if s is None else rng.normal(size=(t, s)).astype(np.float32),
                          task="open the drawer" if i % 3 else "stack", embodiment=["franka", "widowx"][i % 2])
    export_kdb(tmp_path / "m.knb", tmp_path / "m.kdb")
    return kinonb.open(tmp_path / "m.knb"), KdbDatabase(tmp_path / "m.kdb")


def test_dims_are_per_episode(mixed):
    knb, kdb = mixed
    assert [knb.read_meta(i)["action_dim"] for i in range(len(knb))] == [a for a, _ in DIMS]
    assert [knb.read_meta(i)["state_dim"] for i in range(len(knb))] == [s or 0 for _, s in DIMS]
    assert [kdb.read_meta(i)["state_dim"] for i in range(len(kdb))] == [s or 0 for _, s in DIMS]


@pytest.mark.parametrize("q", QUERIES)
def test_same_positions_in_knb_and_kdb(mixed, q):
    knb, kdb = mixed
    assert knb.query(q) == kdb.query(q)


def test_matches_a_list_model(mixed):
    knb, _ = mixed
    for k in (0, 1, 3, 5, 7):
        assert knb.query(f"action_dim = {k}") == [i for i, (a, _) in enumerate(DIMS) if a == k]
        assert knb.query(f"state_dim = {k}") == [i for i, (_, s) in enumerate(DIMS) if (s or 0) == k]
    assert knb.query("action_dim > 2 AND state_dim = 0") == [1, 2, 5]


def test_kinodb_reference_queries_on_mixed_widths(mixed, datasets_dir):
    """kinodb's ~55 reference query strings give the same positions on the mixed .knb and its .kdb."""
    path = datasets_dir / "kinodb_reference" / "create_test_small.expected.json"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    knb, kdb = mixed
    for q in json.loads(path.read_text())["queries"]:
        try:
            want = kdb.query(q)
        except kinonb.QueryError:
            with pytest.raises(kinonb.QueryError):
                knb.query(q)
            continue
        assert knb.query(q) == want, q
