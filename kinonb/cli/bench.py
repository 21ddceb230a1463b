"""The ``bench`` command: run the end-to-end benchmark suite (``bench/run.py``) with the arguments after ``bench``.

The suite is the top-level ``bench/`` folder of a source checkout (``python -m bench.run``); an installed kinonb
ships the same folder as the subpackage ``kinonb.bench`` (pyproject.toml's package-dir), so the command works
in both. The suite runs in a child interpreter that imports the same kinonb as this one.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from .output import EXIT_DATA, EXIT_USAGE, PROG

#: The folder that holds the ``kinonb`` package in use: a source checkout (with ``bench/`` beside ``kinonb/``)
#: or site-packages (this file is kinonb/cli/bench.py).
BENCH_ROOT = Path(__file__).resolve().parents[2]
#: The suite as installed with kinonb.
INSTALLED_MODULE = "kinonb.bench.run"
#: The modules a run imports beyond kinonb's dependencies (the ``bench`` extra; bench/run.py checks the same).
BENCH_DEPS = ("matplotlib", "h5py", "zarr", "pyarrow", "torch")
INSTALL_HINT = "pip install 'kinonb[bench]'"

# The child: drop the caller's folder from sys.path (a bench/ or kinonb/ there would shadow the suite), put the
# checkout first when there is one, then run the suite's module as __main__ (as ``python -m`` does).
_RUNNER = """import runpy, sys
root = sys.argv.pop(1)
if sys.path and sys.path[0] == "":
    del sys.path[0]
if root:
    sys.path.insert(0, root)
runpy.run_module(sys.argv.pop(1), run_name="__main__", alter_sys=True)
"""


def _installed_module() -> str | None:
    """``kinonb.bench.run`` when it is importable (kinonb installed with its benchmark), else None."""
    try:
        return INSTALLED_MODULE if importlib.util.find_spec(INSTALLED_MODULE) is not None else None
    except (ImportError, ValueError):
        return None


def bench_module() -> tuple[str, str] | None:
    """(the suite's module, the sys.path entry the child puts first: "" for none), or None without a suite.

    A checkout's ``bench/`` comes first (``python -m bench.run`` in a checkout, also under an editable install),
    then the installed ``kinonb.bench``.
    """
    if (BENCH_ROOT / "bench" / "run.py").is_file():
        return "bench.run", str(BENCH_ROOT)
    module = _installed_module()
    return (module, "") if module else None


def missing_dependencies() -> list[str]:
    """The modules of BENCH_DEPS that are not installed (found without importing them, so this stays fast)."""
    missing = []
    for name in BENCH_DEPS:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # e.g. sys.modules[name] is None or has no __spec__
            found = False
        if not found:
            missing.append(name)
    return missing


def run_bench(args) -> int:
    """Run the suite with ``args.bench_args`` (everything after ``kinonb bench``; a leading ``--`` is dropped)
    and return its exit status; exit 2 before any work when an optional dependency is missing."""
    extra = list(args.bench_args or [])
    if extra[:1] == ["--"]:
        extra = extra[1:]
    found = bench_module()
    if found is None:
        print(f"{PROG} bench: the benchmark suite (kinonb.bench, or bench/run.py of a source checkout) is not "
              "available in this installation", file=sys.stderr)
        return EXIT_DATA
    if not {"-h", "--help"} & set(extra):
        missing = missing_dependencies()
        if missing:
            print(f"{PROG} bench: missing {', '.join(missing)} (the benchmark needs them): {INSTALL_HINT}",
                  file=sys.stderr)
            return EXIT_USAGE
    module, root = found
    sys.stdout.flush()
    return subprocess.call([sys.executable, "-c", _RUNNER, root, module, *extra])


def cmd_bench(args) -> int:
    return run_bench(args)
