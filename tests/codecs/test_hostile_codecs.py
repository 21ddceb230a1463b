"""Hostile jpeg and video blocks (issue 14 req 6) through open/read_episode/frames/decode_camera_frames/validate
--deep, in a child process whose address space is capped at 4 GiB (the runner of tests/store/test_hostile.py)."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CAP = 4 << 30


def _cap_address_space():
    resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))

pytest.importorskip("simplejpeg")
pytest.importorskip("av")


def test_forged_codec_blocks_never_crash():
    proc = subprocess.run([sys.executable, "-m", "pytest", str(HERE / "hostile_codec_cases.py"), "-q", "-s", "-p",
                           "no:cacheprovider", "-o", "addopts="], cwd=HERE.parents[1], preexec_fn=_cap_address_space,
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout[-20000:] + proc.stderr[-5000:]
    if proc.returncode < 0:
        pytest.fail(f"hostile codec cases killed by {signal.Signals(-proc.returncode).name}:\n{out}")
    assert proc.returncode == 0, f"hostile codec cases failed (exit {proc.returncode}):\n{out}"
    assert "13 passed" in out, out
