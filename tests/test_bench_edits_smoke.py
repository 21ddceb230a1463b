"""bench_edits runs end to end on a tiny file (``--sizes 200``), and the edits it times did what they say: every
op is one commit, deletes and relabels write no bytes besides their footer, add_column and trim only their new
blocks. The timings themselves are not checked."""

from __future__ import annotations

import json

import kinonb
from bench import bench_edits


def test_bench_edits_runs(tmp_path, capsys):
    out = tmp_path / "edits.json"
    assert bench_edits.main(["--sizes", "200", "--repeats", "2", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| 200 | delete_episodes([p]) |" in text and "open commit=-2 s" in text
    res = json.loads(out.read_text())
    ops = res["sizes"][0]["ops"]
    assert set(ops) == set(bench_edits.OPS) and ops["append"]["vs_append"] == 1.0
    assert ops["delete"]["changed"] == ops["set_meta"]["changed"] == ops["annotate"]["changed"] == 0
    assert 50 * 16 * 4 <= ops["add_column"]["changed"] < 2 * 50 * 16 * 4
    assert 40 * 17 * 4 <= ops["trim"]["changed"] < 2 * 40 * 17 * 4
    assert all(o["footer"] > 200 * 64 and o["runs"] == 2 for o in ops.values())
    h = res["sizes"][0]["history"]
    assert h["commits"] == 2 + 3 * len(bench_edits.OPS) and h["compact"]["episodes"] == 200
    assert h["compact"]["bytes_after"] < h["compact"]["bytes_before"]
    assert not list(tmp_path.glob("kinonb-bench-edits-*"))


def test_bench_edits_rounds_edit_what_they_say(tmp_path):
    path = tmp_path / "e.knb"
    n, repeats = 200, 2
    bench_edits.build(path, n)
    bench_edits.edit_rounds(path, n, repeats)
    log = kinonb.log(path)  # created (empty), built, then the rounds
    assert [rec.describe() for rec in log[2:8]] == ["+1 episodes", "deleted 1", "relabelled 1", "relabelled 1",
                                                   "column 'embedding' on 1", "trimmed 1"]
    with kinonb.open(path) as db:
        assert len(db) == n  # as many appended as deleted
        for r in range(repeats + 1):
            assert db.read_meta(bench_edits.position("set_meta", n, r))["task"] == "relabelled task"
            assert db.read_meta(bench_edits.position("set_meta", n, r))["success"] is False
            assert db.read_meta(bench_edits.position("trim", n, r))["num_frames"] == 40
            assert db.read_meta(bench_edits.position("annotate", n, r))["attrs"]["instructions"] == [
                "pick up the cube", "grab the cube"]
            assert db.read_episode(bench_edits.position("add_column", n, r))["embedding"].shape == (50, 16)
    assert kinonb.validate(path).ok
