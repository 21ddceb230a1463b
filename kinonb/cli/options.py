"""Option values turned into the arguments of kinonb's functions (after parsing; a bad value is a UsageError)."""

from __future__ import annotations

from ..errors import UsageError


def _compression(value):
    """``--compress none`` (or no --compress) is ``compression=None``."""
    return None if value in (None, "none") else value


def _key_map(items) -> dict:
    """The ``--map NAME=SOURCE_KEY`` options of ingest as a dict."""
    out = {}
    for item in items or []:
        name, sep, key = item.partition("=")
        if not sep or not name or not key:
            raise UsageError(f"--map {item!r}: expected NAME=SOURCE_KEY, e.g. --map actions=action or --map top=img")
        out[name] = key
    return out
