"""A .kdb reader keeps the metadata it parsed (kinonb/interop/kdb_reader.py, issue 18 req 5): every read_meta
returns the same values in a dict of the caller's own, within the cache's bound and beyond it."""

from __future__ import annotations

import numpy as np

import kinonb
from kinonb.interop import kdb_reader
from kinonb.interop.kdb_writer import write_kdb


def test_kept_metadata_reads_the_same_and_is_the_callers_to_change(tmp_path, monkeypatch):
    monkeypatch.setattr(kdb_reader, "META_CACHE", 3)
    episodes = [{"actions": np.zeros((2 + i, 2), np.float32), "meta": {"task": f"t{i}", "success": bool(i % 2)},
                 "images": {"top": np.zeros((2 + i, 4, 4, 3), np.uint8)}} for i in range(6)]
    write_kdb(tmp_path / "a.kdb", episodes)
    db = kinonb.open(tmp_path / "a.kdb")
    first = [db.read_meta(i) for i in range(6)]
    assert len(db._metas) == 3  # bounded
    for i, meta in enumerate(first):
        assert meta["task"] == f"t{i}" and meta["num_frames"] == 2 + i and meta["cameras"] == ["top"]
        meta["cameras"].append("mine")
        meta["attrs"]["k"] = 1
        meta["task"] = "changed"
    again = [db.read_meta(i) for i in range(6)]
    assert again == [kinonb.open(tmp_path / "a.kdb").read_meta(i) for i in range(6)]
    assert all(m["cameras"] == ["top"] and m["attrs"] == {} and m["task"] == f"t{i}" for i, m in enumerate(again))
    assert db.read_episode_actions_only(1)["meta"] == again[1]
