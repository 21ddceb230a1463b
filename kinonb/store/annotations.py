"""Language annotations of an episode, kept in its attrs: ``instructions`` (several phrasings of the task) and
``segments`` (timed sub-tasks ``[start_frame, end_frame, text]``, end exclusive). KQL queries them as
``instruction`` and ``segment`` (``instruction CONTAINS 'drawer'``)."""

from __future__ import annotations

import numbers

from ..errors import SchemaError

INSTRUCTIONS = "instructions"
SEGMENTS = "segments"


def check_annotations(attrs: dict | None, num_frames: int) -> None:
    """SchemaError unless the annotation keys of ``attrs`` (when present) are well formed for ``num_frames``."""
    if not attrs:
        return
    if INSTRUCTIONS in attrs:
        value = attrs[INSTRUCTIONS]
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            raise SchemaError(f"attrs[{INSTRUCTIONS!r}] must be a list of str, got {value!r:.60}")
    if SEGMENTS in attrs:
        value = attrs[SEGMENTS]
        if not isinstance(value, list):
            raise SchemaError(f"attrs[{SEGMENTS!r}] must be a list of [start_frame, end_frame, text], got "
                              f"{type(value).__name__}")
        for k, seg in enumerate(value):
            ok = isinstance(seg, (list, tuple)) and len(seg) == 3 and isinstance(seg[2], str) and all(
                isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in seg[:2])
            if not ok or not 0 <= seg[0] < seg[1] <= num_frames:
                raise SchemaError(f"segment {k} {seg!r:.60}: expected [start_frame, end_frame, text] with 0 <= "
                                  f"start < end <= {num_frames} (the episode's frames)")


def with_annotations(attrs: dict, instructions, segments, keep) -> dict:
    """``attrs`` with the annotation keys set from the given values (``keep``: leave that key as it is; None:
    remove it); segments become JSON lists."""
    out = dict(attrs)
    for key, value in ((INSTRUCTIONS, instructions), (SEGMENTS, segments)):
        if value is keep:
            continue
        if value is None:
            out.pop(key, None)
        elif key == SEGMENTS:
            out[key] = [list(s) if isinstance(s, (list, tuple)) else s for s in value]
        else:
            out[key] = list(value) if isinstance(value, (list, tuple)) else value
    return out


def trimmed_segments(segments: list, start: int, end: int) -> list:
    """Segments of frames [start, end) of an episode, renumbered from 0; segments outside it are dropped."""
    out = []
    for a, b, text in segments:
        a, b = max(a, start) - start, min(b, end) - start
        if a < b:
            out.append([a, b, text])
    return out
