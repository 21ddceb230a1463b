"""The ``kinonb`` command line (also ``python -m kinonb``): kinodb's ``kino`` commands for .knb files.

Exit status: 0 on success, 1 on a data problem (a one-line message on stderr; ``--debug`` adds the traceback),
2 on a usage error (bad arguments, a KQL query that does not parse), 141 when the reader of stdout went away
(``kinonb info f --episodes | head -1``: no message, as other Unix tools). Progress bars (tqdm, when installed) are
drawn on stderr for ingest, merge, export and ``validate --deep`` only when stderr is a terminal; ``--quiet``
turns them off together with the informational lines ("wrote ..."). Results that a command exists to print
(info, schema, query, validate, mix) are printed either way; ``--json`` prints them as JSON on stdout.

Modules: ``parser`` (the arguments), ``output`` (what is printed and returned), one module per command group
(``inspect``: info, schema, query; ``check``: create-test, validate; ``convert``: ingest, export, merge;
``mix``; ``bench``), ``options`` (option values as function arguments) and ``testdata`` (create-test's episodes).
Heavy and optional modules are imported inside the commands, so ``kinonb --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings

from ..errors import UsageError
from .output import EXIT_DATA, EXIT_OK, EXIT_USAGE, PROG, _one_line, _print_warnings
from .parser import build_parser
from .testdata import create_test_episode

__all__ = ["build_parser", "create_test_episode", "main"]

#: The exit status after the reader of stdout went away (``kinonb info --episodes f | head -1``): 128 + SIGPIPE,
#: what a shell reports for a Unix tool that a broken pipe ended.
EXIT_BROKEN_PIPE = 141


def _split_bench_args(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """``kinonb [options] bench ARGS...``: (the arguments up to ``bench``, ARGS) so that every argument after
    ``bench``, options included, goes to the benchmark; (argv, None) for other commands and for
    ``kinonb bench --help``. (argparse's REMAINDER does not take a first argument that starts with ``-``.)"""
    command = next((i for i, a in enumerate(argv) if not a.startswith("-")), None)
    if command is None or argv[command] != "bench" or argv[command + 1:] in (["-h"], ["--help"]):
        return argv, None
    return argv[:command + 1], argv[command + 1:]


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null, so that flushing what is left (also at exit) is quiet
    (what Python's documentation of SIGPIPE recommends)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (e.g. captured by a test)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def main(argv=None) -> int:
    """Run one command; returns the exit status (0 ok, 1 data problem, 2 usage error, 141 broken pipe)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    argv, bench_args = _split_bench_args(argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help / --version (0) and argparse usage errors (2)
        return e.code if isinstance(e.code, int) else (EXIT_OK if e.code is None else EXIT_USAGE)
    if not getattr(args, "command", None):
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: a command is required (kinonb --help lists them)", file=sys.stderr)
        return EXIT_USAGE
    if bench_args is not None:
        args.bench_args = bench_args
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rc = _run(args)
    if rc == EXIT_BROKEN_PIPE:
        return rc
    try:
        _print_warnings(caught, args)
    except BrokenPipeError:
        return EXIT_BROKEN_PIPE
    return rc


def _run(args) -> int:
    """The command's exit status; an exception becomes a one-line message on stderr (a broken stdout pipe: none)."""
    from ..errors import QueryError

    name = f"{PROG} {args.command}"
    try:
        rc = args.func(args)
        sys.stdout.flush()  # a broken pipe shows here, not at exit
        return rc
    except BrokenPipeError:  # the reader of stdout went away: stop quietly, like other Unix tools
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except UsageError as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except QueryError as e:
        if args.debug:
            traceback.print_exc()
        print(f"{name}: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - every other failure is reported as one line (exit 1)
        if args.debug:
            traceback.print_exc()
        print(f"{name}: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_DATA
