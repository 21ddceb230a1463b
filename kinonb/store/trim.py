"""The columns of frames [start, end) of a stored episode, for ``Writer.trim``: every per-frame column sliced,
JPEG frames kept as stored, streams cut by time, episode arrays as they are."""

from __future__ import annotations

import numpy as np

from ..codecs.encoded import EncodedJpeg
from ..errors import SchemaError
from .timelines import as_seconds


def trimmed_episode(db, p: int, start: int, end: int) -> dict:
    """``episode_columns`` keyword arguments for frames [start, end) of episode ``p`` of reader ``db``."""
    ep = db.read_episode(p, raw_frames=True)
    t = int(ep["meta"]["num_frames"])

    def cut(arr):  # states and extra columns may hold T + 1 rows: keep the extra one past the end
        return None if arr is None else np.ascontiguousarray(arr[start : end + (len(arr) - t)])

    images = {}
    for name, stored in (ep.get("images") or {}).items():
        if isinstance(stored, EncodedJpeg):  # JPEG frames are kept as they are: no second lossy encode
            images[name] = EncodedJpeg(stored.frames[start:end], stored.height, stored.width, stored.channels)
        elif isinstance(stored, np.ndarray):
            images[name] = np.ascontiguousarray(stored[start:end])
        else:  # lz4 (encoded again, losslessly) and video (encoded again): only the kept frames are decoded
            images[name] = db.frames(p, name, start, end)
    streams = {}
    if ep.get("streams"):
        lo, hi = _frame_times(ep, t, start, end, p)
        for name, (times, values) in ep["streams"].items():
            secs = as_seconds(np.asarray(times))
            a = max(int(np.searchsorted(secs, lo, "right")) - 1, 0)  # the sample in effect at frame start
            b = len(secs) if hi is None else int(np.searchsorted(secs, hi, "left"))
            if a >= b:
                raise SchemaError(f"trim of episode {p}: stream {name!r} has no sample in frames [{start}, {end})")
            streams[name] = (np.ascontiguousarray(times[a:b]), np.ascontiguousarray(values[a:b]))
    return {
        "actions": cut(ep.get("actions")), "states": cut(ep.get("states")), "rewards": cut(ep.get("rewards")),
        "is_terminal": cut(ep.get("is_terminal")), "images": images or None,
        "columns": {n: cut(ep[n]) for n in ep["meta"].get("columns", [])} or None,
        "timestamps": cut(ep.get("timestamps")), "streams": streams or None,
        "episode_arrays": {n: np.asarray(v) for n, v in (ep.get("episode_arrays") or {}).items()} or None,
    }


def _frame_times(ep: dict, t: int, start: int, end: int, p: int) -> tuple[float, float | None]:
    """Seconds of frame ``start`` and of frame ``end`` (None past the last frame): timestamps, else frame / fps."""
    if ep.get("timestamps") is not None:
        secs = as_seconds(np.asarray(ep["timestamps"]))
        return float(secs[start]), None if end >= t else float(secs[end])
    fps = float(ep["meta"]["fps"])
    if fps <= 0:
        raise SchemaError(f"trim of episode {p}: its streams cannot be cut without frame times (no timestamps "
                          f"column and fps 0)")
    return start / fps, None if end >= t else end / fps

