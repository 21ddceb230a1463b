"""``kinonb log``, ``diff``, ``compact``, ``delete``, ``relabel``, ``annotate``: output, --json, --dry-run leaving
the file byte for byte, refusals (exit 2) that write nothing."""

import json

import pytest

import kinonb
from kinonb.cli import main


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def demo(tmp_path, capsys):
    path = tmp_path / "demo.knb"
    assert run(capsys, "create-test", path, "-n", 10, "--frames", 20)[0] == 0
    return path


@pytest.mark.parametrize("command", ["log", "diff", "compact", "delete", "relabel", "annotate"])
def test_help_has_an_example(capsys, command):
    rc, out, _ = run(capsys, command, "--help")
    assert rc == 0 and "example:" in out


def test_delete_dry_run_then_delete(demo, capsys):
    data = demo.read_bytes()
    rc, out, _ = run(capsys, "delete", demo, "0", "3:6", "--query", "episode_id = 9", "--dry-run")
    assert rc == 0 and "would delete 5 of 10 episodes: 0, 3-5, 9" in out
    assert demo.read_bytes() == data
    rc, out, _ = run(capsys, "delete", demo, "0", "3:6", "--json")
    assert rc == 0 and json.loads(out)["episodes"] == 6
    assert [kinonb.open(demo).read_meta(i)["episode_id"] for i in range(6)] == [1, 2, 6, 7, 8, 9]
    for bad in (["10"], ["a"], ["5:3"], []):
        assert run(capsys, "delete", demo, *bad)[0] == 2
    assert len(kinonb.open(demo)) == 6


def test_relabel_and_annotate_from_csv_and_json(demo, tmp_path, capsys):
    labels = tmp_path / "labels.csv"
    labels.write_text("position,task,success,total_reward\n1,pick,true,2.5\n2,,unknown,\n")
    data, task_2 = demo.read_bytes(), kinonb.open(demo).read_meta(2)["task"]
    rc, out, _ = run(capsys, "relabel", demo, "--from", labels, "--dry-run")
    assert rc == 0 and '1 task: "' in out and '-> "pick"' in out and demo.read_bytes() == data
    assert run(capsys, "relabel", demo, "--from", labels)[0] == 0
    db = kinonb.open(demo)
    assert (db.read_meta(1)["task"], db.read_meta(1)["success"], db.read_meta(1)["total_reward"]) == ("pick", True, 2.5)
    assert db.read_meta(2)["success"] is None and db.read_meta(2)["task"] == task_2
    notes = tmp_path / "notes.json"
    notes.write_text(json.dumps([{"position": 4, "instructions": ["open the drawer"],
                                  "segments": [[0, 10, "reach"], [10, 20, "pull"]]}]))
    assert run(capsys, "annotate", demo, "--from", notes)[0] == 0
    assert run(capsys, "query", demo, "instruction CONTAINS 'drawer'", "--json")[0] == 0
    assert kinonb.open(demo).query("segment = 'pull'") == [4]
    csv_notes = tmp_path / "notes.csv"
    csv_notes.write_text('position,instructions\n5,a | b\n')
    assert run(capsys, "annotate", demo, "--from", csv_notes)[0] == 0
    assert kinonb.open(demo).read_meta(5)["attrs"]["instructions"] == ["a", "b"]


@pytest.mark.parametrize("content, suffix", [
    ('{"99": {"task": "x"}}', ".json"),  # no such position
    ('{"1": {"colour": "x"}}', ".json"),  # not a relabel field
    ('{"1": {"success": 3}}', ".json"),  # not a success value
    ("position,fps\n1,fast\n", ".csv"),
    ("[1, 2]", ".json"),
    ("{", ".json"),
])
def test_a_bad_row_writes_nothing(demo, tmp_path, capsys, content, suffix):
    source = tmp_path / f"bad{suffix}"
    source.write_text(content)
    data = demo.read_bytes()
    rc, _, err = run(capsys, "relabel", demo, "--from", source)
    assert rc == 2 and err
    assert demo.read_bytes() == data


def test_an_annotation_outside_the_episode_writes_nothing(demo, tmp_path, capsys):
    source = tmp_path / "seg.json"
    source.write_text('{"0": {"segments": [[0, 99, "x"]]}}')
    data = demo.read_bytes()
    rc, _, err = run(capsys, "annotate", demo, "--from", source)
    assert rc == 2 and "segment 0" in err and demo.read_bytes() == data


def test_log_diff_and_compact(demo, tmp_path, capsys):
    assert run(capsys, "delete", demo, "2")[0] == 0
    rc, out, _ = run(capsys, "log", demo)
    assert rc == 0 and "deleted 1" in out and "+10 episodes" in out
    rc, out, _ = run(capsys, "log", demo, "--json")
    log = json.loads(out)
    assert [c["seq"] for c in log] == [1, 2, 3] and log[-1]["changes"] == {"deleted": [2]}
    rc, out, _ = run(capsys, "diff", f"{demo}@-2", demo, "--json")
    assert json.loads(out) == {"added": [], "removed": [2], "same": 9, "changed": []}
    rc, out, _ = run(capsys, "diff", f"{demo}@2", f"{demo}@3")
    assert rc == 0 and "removed 1" in out
    assert run(capsys, "diff", f"{demo}@x", demo)[0] == 2
    assert run(capsys, "diff", f"{demo}@7", demo)[0] == 2
    out_path = tmp_path / "small.knb"
    rc, out, _ = run(capsys, "compact", demo, "-o", out_path, "--json")
    report = json.loads(out)
    assert rc == 0 and report["bytes_reclaimed"] == report["bytes_before"] - report["bytes_after"] > 0
    assert len(kinonb.open(out_path)) == 9
