"""What the command line prints and returns: exit statuses, JSON, informational lines, progress bars, errors
and warnings on stderr."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

PROG = "kinonb"
EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2
MAX_WARNINGS = 12


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # JSON has no NaN / Inf
    if isinstance(obj, Path):
        return str(obj)
    return obj


def escaped(text: str) -> str:
    """``text`` with every character a terminal would act on (control characters, bidi overrides, ...) written
    as a Python escape: names and tasks come from files, and a file must not move the cursor or recolour it."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))


def escaped_lines(text: str) -> str:
    """:func:`escaped` line by line (the newlines between lines are kept)."""
    return "\n".join(escaped(line) for line in str(text).split("\n"))


def _print_json(obj) -> None:
    print(json.dumps(_jsonable(obj), indent=2, ensure_ascii=False))


def _info(args, text: str) -> None:
    """An informational line (suppressed by --quiet and by --json, whose stdout is the JSON document)."""
    if not args.quiet and not getattr(args, "json", False):
        print(text)


def _progress(args, desc: str, unit: str = "ep"):
    """A tqdm factory when stderr is a terminal and not --quiet, else None."""
    if args.quiet or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return lambda it: tqdm(it, desc=desc, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)


def _one_line(e: BaseException) -> str:
    """An exception as the one line the command line prints for it."""
    from ..errors import QueryError

    if isinstance(e, QueryError):
        where = f" at position {e.position}" if e.position is not None else ""
        return f"bad KQL query {e.query!r}: {e.reason}{where}"
    text = " ".join(str(e).split()) or type(e).__name__
    if isinstance(e, (FileNotFoundError, IsADirectoryError, PermissionError)) and e.filename:
        text = f"{e.filename}: {e.strerror}"
    return text


def _print_warnings(caught, args) -> None:
    """The distinct messages of the warnings caught while a command ran, at most MAX_WARNINGS, on stderr."""
    seen = []
    for w in caught:
        text = str(w.message)
        if text not in seen:
            seen.append(text)
    for text in seen[:MAX_WARNINGS]:
        print(f"{PROG}: warning: {text}", file=sys.stderr)
    if len(seen) > MAX_WARNINGS:
        print(f"{PROG}: ... and {len(seen) - MAX_WARNINGS} more warnings (--json lists everything skipped)",
              file=sys.stderr)
