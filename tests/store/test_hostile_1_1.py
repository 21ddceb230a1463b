"""Hostile format 1.1 input (issue 13 req 9): forged block_shapes rows are refused with a ``kinonb.FormatError``
by open, read_episode, frames, sample_index and validate(deep=True), and never crash the process or allocate
by a forged size. The cases (``hostile_1_1_cases.py``) run in a child process capped at 4 GiB of address
space, with the runner of ``test_hostile.py``; ``--run-slow`` runs ten times more random rows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_hostile import _cap_address_space

HERE = Path(__file__).resolve().parent


def run_cases(examples: int, random: bool, timeout: int) -> str:
    env = dict(os.environ, KINONB_HOSTILE_EXAMPLES=str(examples), KINONB_HOSTILE_RANDOM="1" if random else "0")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(HERE / "hostile_1_1_cases.py"), "-q", "-p", "no:cacheprovider",
         "-o", "addopts="],
        cwd=HERE, env=env, preexec_fn=_cap_address_space, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout[-20000:] + proc.stderr[-5000:]
    if proc.returncode < 0:
        pytest.fail(f"hostile 1.1 cases killed by {signal.Signals(-proc.returncode).name}:\n{out}")
    assert proc.returncode == 0, f"hostile 1.1 cases failed (exit {proc.returncode}):\n{out}"
    return out


def test_forged_block_shapes_refused():
    out = run_cases(examples=60, random=False, timeout=600)
    assert " passed" in out and "failed" not in out


@pytest.mark.slow
def test_forged_block_shapes_soak():
    run_cases(examples=600, random=True, timeout=3600)
