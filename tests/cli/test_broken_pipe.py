"""A reader of stdout that goes away (``kinonb ... | head -1``) ends a command quietly, as other Unix tools:
no traceback, no "Broken pipe" message, exit status 141 (128 + SIGPIPE). main() handles it for every command."""

import subprocess
import sys
from pathlib import Path

import pytest

from kinonb.cli import main
from kinonb.cli import parser as cli_parser

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """A file of 2000 episodes: `info --episodes` prints ~150 KB, more than a pipe holds."""
    path = tmp_path_factory.mktemp("pipe") / "many.knb"
    assert main(["create-test", str(path), "-n", "2000", "--frames", "2", "--quiet"]) == 0
    return path


def test_head_of_a_long_listing(many, tmp_path):
    err = tmp_path / "stderr.txt"
    script = 'set -o pipefail; "$0" -m kinonb info "$1" --episodes 2>"$2" | head -1'
    proc = subprocess.run(["bash", "-c", script, sys.executable, str(many), str(err)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.count("\n") == 1 and proc.stdout.startswith("kinonb ")
    assert err.read_text() == ""
    assert proc.returncode == 141


@pytest.mark.parametrize("argv", [["validate", "--deep"], ["schema"], ["query", "success = true"],
                                  ["info", "--json"]])
def test_every_command_stops_quietly_when_stdout_is_closed(many, argv):
    """The reader closes its end before the command writes anything (also what is left for the exit's flush)."""
    cmd = [sys.executable, "-m", "kinonb", argv[0], str(many), *argv[1:]]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141 and err == b""


def test_in_process(capsys, monkeypatch):
    def broken(args):
        print("a line")
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli_parser, "cmd_schema", broken)
    assert main(["schema", "x.knb"]) == 141
    assert capsys.readouterr().err == ""
