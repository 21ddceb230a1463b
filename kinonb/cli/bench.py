"""The ``bench`` command: run the benchmark suite of a source checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .output import EXIT_DATA, PROG

#: The source checkout that holds ``bench/`` (beside the ``kinonb`` package; this file is kinonb/cli/bench.py).
BENCH_ROOT = Path(__file__).resolve().parents[2]


def run_bench(args) -> int:
    """Run the benchmark suite (``python -m bench.run``) when this checkout has it; otherwise say why not.

    The hook the benchmark issue fills in: ``bench/run.py`` under BENCH_ROOT, run from there with the
    arguments after ``kinonb bench`` (a leading ``--`` is dropped); its exit status is returned.
    """
    root = BENCH_ROOT
    if not (root / "bench" / "run.py").is_file():
        print(f"{PROG} bench: the benchmark suite (bench/run.py) is not available in this installation; "
              "run it from a kinonb source checkout", file=sys.stderr)
        return EXIT_DATA
    extra = list(args.bench_args or [])
    if extra[:1] == ["--"]:
        extra = extra[1:]
    return subprocess.call([sys.executable, "-m", "bench.run", *extra], cwd=root)


def cmd_bench(args) -> int:
    return run_bench(args)
