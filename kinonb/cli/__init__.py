"""The ``kinonb`` command line (also ``python -m kinonb``): kinodb's ``kino`` commands for .knb files.

Exit status: 0 on success, 1 on a data problem (a one-line message on stderr; ``--debug`` adds the traceback),
2 on a usage error (bad arguments, a KQL query that does not parse). Progress bars (tqdm, when installed) are
drawn on stderr for ingest, merge, export and ``validate --deep`` only when stderr is a terminal; ``--quiet``
turns them off together with the informational lines ("wrote ..."). Results that a command exists to print
(info, schema, query, validate, mix) are printed either way; ``--json`` prints them as JSON on stdout.

Modules: ``parser`` (the arguments), ``output`` (what is printed and returned), one module per command group
(``inspect``: info, schema, query; ``check``: create-test, validate; ``convert``: ingest, export, merge;
``mix``; ``bench``), ``options`` (option values as function arguments) and ``testdata`` (create-test's episodes).
Heavy and optional modules are imported inside the commands, so ``kinonb --help`` stays fast.
"""

from __future__ import annotations

import sys
import traceback
import warnings

from ..errors import UsageError
from .output import EXIT_DATA, EXIT_OK, EXIT_USAGE, PROG, _one_line, _print_warnings
from .parser import build_parser
from .testdata import create_test_episode

__all__ = ["build_parser", "create_test_episode", "main"]


def main(argv=None) -> int:
    """Run one command; returns the exit status (0 ok, 1 data problem, 2 usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help / --version (0) and argparse usage errors (2)
        return e.code if isinstance(e.code, int) else (EXIT_OK if e.code is None else EXIT_USAGE)
    if not getattr(args, "command", None):
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: a command is required (kinonb --help lists them)", file=sys.stderr)
        return EXIT_USAGE
    from ..errors import QueryError

    name = f"{PROG} {args.command}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rc = args.func(args)
        except UsageError as e:
            print(f"{name}: error: {e}", file=sys.stderr)
            rc = EXIT_USAGE
        except QueryError as e:
            if args.debug:
                traceback.print_exc()
            print(f"{name}: error: {_one_line(e)}", file=sys.stderr)
            rc = EXIT_USAGE
        except KeyboardInterrupt:
            print(f"{name}: interrupted", file=sys.stderr)
            rc = 130
        except Exception as e:  # noqa: BLE001 - every other failure is reported as one line (exit 1)
            if args.debug:
                traceback.print_exc()
            print(f"{name}: error: {_one_line(e)}", file=sys.stderr)
            rc = EXIT_DATA
    _print_warnings(caught, args)
    return rc
