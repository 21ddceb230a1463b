"""The commit_info section of a 1.2 edit commit: when it was written, where the commit before it ends, and what it
changed, as one UTF-8 JSON object (format_spec.md §4.1).

A reader uses ``prev_end`` to walk the history without scanning the file, and ``changes`` for ``kinonb log``; it
never needs them to read the commit's episodes.
"""

from __future__ import annotations

import json
import math

from ..errors import CorruptFieldError
from .schema import attrs_too_deep

#: Kinds of change a commit_info records, each with a list of positions (before the commit's deletes apply).
CHANGE_KINDS = ("deleted", "relabelled", "columns", "trimmed")


def encode_commit_info(time: float, prev_end: int, added: int, changes: dict) -> bytes:
    info = {"time": time, "prev_end": prev_end, "added": added,
            "changes": {k: v for k, v in changes.items() if v}}
    return json.dumps(info, sort_keys=True, ensure_ascii=False, allow_nan=False).encode("utf-8")


def decode_commit_info(raw: bytes, path, offset: int) -> dict:
    """The checked commit_info object (its section CRC was checked with the footer)."""
    def bad(expected, found):
        return CorruptFieldError(path, offset, f"commit_info: {expected}", found)

    if attrs_too_deep(raw):
        raise bad("JSON nested at most 64 deep", "deeper")
    try:
        info = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise bad("a UTF-8 JSON object", str(e)[:80]) from None
    if not isinstance(info, dict):
        raise bad("a JSON object", type(info).__name__)
    time, prev_end, added = info.get("time"), info.get("prev_end"), info.get("added", 0)
    if not isinstance(time, (int, float)) or isinstance(time, bool) or not math.isfinite(time):
        raise bad("time, a finite number of seconds", repr(time)[:40])
    for label, v in (("prev_end", prev_end), ("added", added)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise bad(f"{label}, an integer >= 0", repr(v)[:40])
    if prev_end % 64:
        raise bad("prev_end, a multiple of 64", prev_end)
    changes = info.get("changes", {})
    if not isinstance(changes, dict):
        raise bad("changes, an object", type(changes).__name__)
    for kind, positions in changes.items():
        if kind == "columns":
            ok = isinstance(positions, dict) and all(isinstance(v, list) for v in positions.values())
            flat = [p for v in positions.values() for p in v] if ok else []
        else:
            ok, flat = isinstance(positions, list), positions
        if not ok or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in flat):
            raise bad(f"changes.{kind}, positions (integers >= 0)", repr(positions)[:40])
    return {"time": float(time), "prev_end": prev_end, "added": added, "changes": changes}
