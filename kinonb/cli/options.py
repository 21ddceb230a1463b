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


CODECS = ("none", "raw", "lz4", "jpeg", "video")


def _ingest_compression(values):
    """``--compress`` of ingest (repeatable): one codec for every camera (``jpeg``), or ``CAMERA=CODEC`` pairs,
    comma-separated or in repeated flags (``front=jpeg,wrist=lz4``; cameras not named stay raw)."""
    whole, per_camera = [], {}
    for value in values or []:
        for item in value.split(","):
            name, sep, codec = item.strip().rpartition("=")
            if codec not in CODECS or (sep and not name):
                raise UsageError(f"--compress {value!r}: expected one of {', '.join(CODECS)}, or CAMERA=CODEC "
                                 f"pairs such as front=jpeg,wrist=lz4")
            if not sep:
                whole.append(codec)
            elif per_camera.setdefault(name, codec) != codec:
                raise UsageError(f"--compress: camera {name!r} is given two codecs ({per_camera[name]}, {codec})")
    if whole and per_camera:
        raise UsageError("--compress: give one codec for every camera or CAMERA=CODEC pairs, not both")
    if len(set(whole)) > 1:
        raise UsageError(f"--compress: several codecs for every camera ({', '.join(whole)})")
    if per_camera:
        return per_camera
    return _compression(whole[0]) if whole else None
