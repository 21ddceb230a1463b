"""`kinonb salvage` and `kinonb validate --repair` on a cut file (issue 15): exit codes, what they print, and the
refusal to remove episodes salvage could recover."""

import io
import json
import sys

import numpy as np
import pytest

import kinonb
from kinonb import cli


def cut_file(path, n=5):
    with kinonb.create(path, sync=False) as w:
        for i in range(n):
            w.add_episode(actions=np.full((3, 2), i, np.float32), task=f"t{i}", attrs={"i": i})
    raw = path.read_bytes()
    path.write_bytes(raw[:-100])
    return len(raw) - 100


def test_validate_fails_and_repair_refuses_without_force(tmp_path, capsys):
    src = tmp_path / "lift.knb"
    size = cut_file(src)
    assert cli.main(["validate", str(src)]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("FAILED") and "5 of 5 episodes recoverable by `kinonb salvage" in out
    assert cli.main(["validate", "--repair", str(src)]) == 1  # stdin is not a terminal: refuse, change nothing
    _, err = capsys.readouterr()
    assert "will remove" in err and "refusing" in err and "kinonb salvage" in err
    assert src.stat().st_size == size
    assert cli.main(["validate", "--repair", "--force", "--json", str(src)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["repaired_bytes"] == size - 512 and "will remove" in err
    assert src.stat().st_size == 512


@pytest.mark.parametrize("answer, removed", [("y\n", True), ("\n", False)])
def test_repair_asks_on_a_terminal(tmp_path, capsys, monkeypatch, answer, removed):
    src = tmp_path / "lift.knb"
    size = cut_file(src)
    stdin = io.StringIO(answer)
    stdin.isatty = lambda: True
    monkeypatch.setattr(sys, "stdin", stdin)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert cli.main(["validate", "--repair", str(src)]) == (0 if removed else 1)
    assert "[y/N]" in capsys.readouterr().err
    assert src.stat().st_size == (512 if removed else size)


def test_salvage_command(tmp_path, capsys):
    src, out = tmp_path / "lift.knb", tmp_path / "rescued.knb"
    cut_file(src)
    assert cli.main(["salvage", str(src), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("recovered all") and "5 episodes" in text and "0 lost" in text
    assert kinonb.open(out).num_episodes() == 5
    raw = bytearray(src.read_bytes())  # damage one episode's actions block
    db = kinonb.open(out)
    del db
    off = 512 + 64 * 2  # episode 2's actions block: each episode's one block is 64 bytes here
    raw[off] ^= 0xFF
    src.write_bytes(raw)
    assert cli.main(["salvage", str(src), "-o", str(out), "--overwrite", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["recovered"] == 4 and report["lost_episodes"] == 1 and "episode 2" in report["lost"][0]
