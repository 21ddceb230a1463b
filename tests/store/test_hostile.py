"""Hostile input (issue 8, requirement 4): no file, however forged, crashes the process or makes it allocate
memory sized by a forged value; every refusal is a ``kinonb.FormatError``.

The hypothesis cases live in ``tests/hostile_cases.py`` and run here in a child process whose address space is
capped at 4 GiB (``RLIMIT_AS``; the cases tighten it further after warming up). A segfault, an abort, a
MemoryError or any exception other than FormatError fails this test with the child's output, instead of
killing pytest. ``--run-slow`` runs ten times more examples with random seeds.
"""

from __future__ import annotations

import os
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


def run_cases(examples: int, random: bool, timeout: int) -> str:
    env = dict(os.environ, KINONB_HOSTILE_EXAMPLES=str(examples), KINONB_HOSTILE_RANDOM="1" if random else "0")
    # The child runs in tests/: put this checkout first, so it tests the kinonb this pytest imports (not another
    # checkout that an editable install points at).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parents[1]), os.environ.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(HERE / "hostile_cases.py"), "-q", "-s", "-p", "no:cacheprovider",
         "-o", "addopts="],
        cwd=HERE.parent, env=env, preexec_fn=_cap_address_space, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout[-20000:] + proc.stderr[-5000:]
    if proc.returncode < 0:
        pytest.fail(f"hostile cases killed by {signal.Signals(-proc.returncode).name}:\n{out}")
    assert proc.returncode == 0, f"hostile cases failed (exit {proc.returncode}):\n{out}"
    return out


def test_hostile_footers_never_crash():
    """Forged footers, raw COLUMN/footer/trailer patches with checksums recomputed, and patched blocks, through
    open, read_meta, read_episode(_actions_only), frames, query, stats, validate --deep, repair, append,
    resize, and sample_index().read when present: a result or a FormatError, within the memory cap."""
    out = run_cases(examples=120, random=False, timeout=600)
    assert "passed" in out and "hostile examples by outcome" in out
    print("\n".join(out[out.index("hostile examples by outcome"):].splitlines()[:2]))


@pytest.mark.slow
def test_hostile_footers_never_crash_soak():
    out = run_cases(examples=1500, random=True, timeout=3600)
    print("\n".join(out[out.index("hostile examples by outcome"):].splitlines()[:2]))


def test_child_crash_is_reported(tmp_path):
    """The harness itself: a segfaulting child fails the test with the signal's name instead of killing pytest."""
    script = tmp_path / "test_boom.py"
    script.write_text("import ctypes\n\ndef test_boom():\n    ctypes.string_at(0)\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", str(script), "-q", "-p", "no:cacheprovider",
                           "-p", "no:faulthandler"], preexec_fn=_cap_address_space, capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGSEGV
