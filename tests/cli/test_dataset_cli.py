"""The command line on a sharded dataset folder: info, query, stats, merge and validate read it as one file."""

import json

import numpy as np
import pytest

import kinonb
from kinonb.cli import main


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "ds").mkdir()
    for k in range(3):
        with kinonb.create(tmp_path / "ds" / f"shard-{k:05d}.knb") as w:
            for i in range(4):
                t = 5 + i
                w.add_episode(actions=rng.normal(size=(t, 2)).astype(np.float32), success=i % 2 == 0,
                              task=f"task {k}", episode_id=4 * k + i)
    kinonb.write_manifest(tmp_path / "ds")
    return tmp_path / "ds"


def test_info_query_and_merge_read_the_folder_as_one_file(folder, capsys, tmp_path):
    rc, out, _ = run(capsys, "info", folder, "--json")
    info = json.loads(out)
    assert rc == 0 and info["num_episodes"] == 12 and "commits" not in info
    assert info["file_size_bytes"] == sum(p.stat().st_size for p in folder.glob("*.knb"))
    rc, out, _ = run(capsys, "info", folder)
    assert "shards:   3" in out
    rc, out, _ = run(capsys, "query", folder, "success = true AND task = 'task 2'")
    assert rc == 0 and "2 of 12 episodes match" in out
    rc, _, err = run(capsys, "merge", folder, "-o", tmp_path / "all.knb", "--keep-ids")
    assert rc == 0, err
    merged = kinonb.open(tmp_path / "all.knb")
    assert [merged.read_meta(i)["episode_id"] for i in range(12)] == list(range(12))


def test_validate_checks_every_shard(folder, capsys):
    rc, out, _ = run(capsys, "validate", folder, "--deep")
    assert rc == 0 and out.startswith("PASSED") and "12 episodes" in out
    shard = folder / "shard-00001.knb"
    shard.write_bytes(shard.read_bytes()[:-100])  # a torn tail in one shard
    rc, out, err = run(capsys, "validate", folder)
    assert rc == 1 and "FAILED" in out and "shard-00001.knb" in err
    rc, _, err = run(capsys, "validate", folder, "--repair")
    assert rc == 2 and "one by one" in err


def test_manifest_command_pins_the_shards_named(folder, capsys):
    (folder / "kinonb-dataset.json").unlink()
    rc, out, _ = run(capsys, "manifest", folder, "--shards", "shard-00002.knb", "shard-00000.knb", "--json")
    doc = json.loads(out)
    assert rc == 0 and [s["path"] for s in doc["shards"]] == ["shard-00002.knb", "shard-00000.knb"]
    assert [kinonb.open(folder).read_meta(i)["episode_id"] for i in (0, 4)] == [8, 0]  # the manifest's order
    rc, out, _ = run(capsys, "manifest", folder)
    assert rc == 0 and "3 shards, 12 episodes" in out
    rc, _, err = run(capsys, "manifest", folder, "--shards", "missing.knb")
    assert rc == 1 and "not a file" in err
    rc, out, _ = run(capsys, "manifest", "--help")
    assert "example:" in out
