"""Hypothesis strategies for .knb files: per-file schemas and the add_episode kwargs that fit them."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

FLOATS = st.floats(width=32, allow_nan=True, allow_infinity=True)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@st.composite
def file_schemas(draw, max_dim: int = 32):
    """Per-file choices that every episode of the file shares: dims, which columns exist, camera shapes."""
    cameras = draw(st.dictionaries(st.sampled_from(["top", "wrist", "side"]),
                                   st.tuples(st.integers(1, 12), st.integers(1, 12), st.sampled_from([1, 3, 4])),
                                   max_size=2))
    return {
        "action_dim": draw(st.integers(0, max_dim)),
        "state_dim": draw(st.none() | st.integers(0, max_dim)),
        "rewards": draw(st.booleans()),
        "is_terminal": draw(st.booleans()),
        "cameras": cameras,
        "extra": draw(st.none() | st.sampled_from(["<f8", "<i4", "|u1", "|b1", "<f2", "<u8"])),
        "compression": draw(st.sampled_from([None, "lz4"])),
    }


@st.composite
def episodes(draw, schema: dict, max_frames: int = 500):
    """Keyword arguments for Writer.add_episode that fit ``schema``; optional columns may be left out."""
    t = draw(st.integers(1, max_frames) if draw(st.booleans()) else st.integers(1, 8))
    arrays = lambda dt, shape: draw(hnp.arrays(np.dtype(dt), shape, elements=FLOATS if dt == "<f4" else None))  # noqa: E731
    ep = {"actions": arrays("<f4", (t, schema["action_dim"]))}
    if schema["state_dim"] is not None and draw(st.booleans()):
        ep["states"] = arrays("<f4", (t, schema["state_dim"]))
    if schema["rewards"]:
        ep["rewards"] = arrays("<f4", (t,))
    if schema["is_terminal"]:
        ep["is_terminal"] = arrays("|b1", (t,))
    images = {}
    for name, (h, w, c) in schema["cameras"].items():
        if draw(st.booleans()):
            # Mostly-flat frames keep lz4 honest (compressible) while staying cheap to generate.
            base = draw(st.integers(0, 255))
            frames = np.full((t, h, w, c), base, np.uint8)
            frames.reshape(-1)[:: max(1, frames.size // 7 or 1)] = draw(st.integers(0, 255))
            images[name] = frames
    if images:
        ep["images"] = images
    if schema["extra"] and draw(st.booleans()):
        ep["columns"] = {"extra": arrays(schema["extra"], (t, 2))}
    ep["task"] = draw(TEXT)
    ep["embodiment"] = draw(st.sampled_from(["", "franka", "ur5", "pusht", "機械"]))
    ep["fps"] = draw(st.sampled_from([0.0, 10.0, 29.97, 50.0]))
    ep["success"] = draw(st.sampled_from([None, True, False]))
    ep["total_reward"] = draw(st.none() | st.floats(-1e6, 1e6))
    ep["attrs"] = draw(st.dictionaries(st.sampled_from(["operator", "seed", "ok"]),
                                       st.text(max_size=5) | st.integers(-5, 5) | st.booleans(), max_size=2))
    return ep


# -- format 1.1 -----------------------------------------------------------------------------------------------

#: The float dtypes a fixed role (actions, states, rewards) may keep.
FIXED_FLOATS = ("<f2", "<f4", "<f8")
#: Values exactly representable in every float dtype: given in any of them, they convert without loss.
HALF_FLOATS = st.floats(width=16, allow_nan=True, allow_infinity=True)
_ANY_DTYPES = ["<f8", "<f4", "<f2", "<i4", "|u1", "|b1", "<i8", "<u2"]
_NAMES = ["imu", "force", "audio"]


def _named(draw, names, value, max_size=2) -> dict:
    return draw(st.dictionaries(st.sampled_from(names), value, max_size=max_size))


@st.composite
def file_schemas_1_1(draw, max_dim: int = 5):
    """Per-file choices for a format 1.1 file: each fixed role's float dtype, per-episode width ranges, which
    columns may appear (every one optional per episode, actions included), the dtype and ndim of each extra
    column, stream and episode array, cameras (their resolution drawn per episode), timestamps, and maybe a
    ``create(dtypes=)`` cast."""
    dtypes = {key: draw(st.sampled_from(FIXED_FLOATS)) for key in ("actions", "states", "rewards")}
    cast = draw(st.none() | st.sampled_from(["actions", "states", "rewards"]))
    if cast:
        dtypes[cast] = draw(st.sampled_from(FIXED_FLOATS))
    widths = st.lists(st.integers(0, max_dim), min_size=1, max_size=3, unique=True)
    return {
        "dtypes": dtypes,
        "request": {cast: dtypes[cast]} if cast else None,
        "action_widths": draw(widths), "state_widths": draw(widths),
        "timestamps": draw(st.none() | st.sampled_from(["<f8", "<i8"])),
        "streams": _named(draw, _NAMES, st.tuples(st.sampled_from(["<f8", "<i8"]), st.sampled_from(_ANY_DTYPES),
                                                  st.integers(0, 2))),
        "episode_arrays": _named(draw, ["init_qpos", "goal", "calib"],
                                 st.tuples(st.sampled_from(_ANY_DTYPES), st.integers(0, 3))),
        "extras": _named(draw, ["eef", "flags"], st.tuples(st.sampled_from(_ANY_DTYPES), st.integers(0, 2))),
        "cameras": draw(st.lists(st.sampled_from(["top", "wrist"]), unique=True, max_size=2)),
        "compression": draw(st.sampled_from([None, "lz4"])),
    }


def _values(draw, dtype, shape, full_width: bool = True):
    dt = np.dtype(dtype)
    elements = None if full_width or dt.kind != "f" else HALF_FLOATS
    return draw(hnp.arrays(dt, shape, elements=elements))


def _dims(draw, ndim: int, high: int = 3) -> tuple:
    return tuple(draw(st.integers(0, high)) for _ in range(ndim))


def _fixed(draw, schema, key, shape, established):
    """A fixed-role array: full-width values in the file's dtype, or (once the file holds the column, and no cast
    is requested) values every float dtype holds exactly, given as any float dtype."""
    dtype = schema["dtypes"][key]
    if key in established and not (schema["request"] or {}).get(key) and draw(st.booleans()):
        return _values(draw, dtype, shape, full_width=False).astype(draw(st.sampled_from(FIXED_FLOATS)))
    given = draw(st.sampled_from(FIXED_FLOATS)) if (schema["request"] or {}).get(key) else dtype
    return _values(draw, given, shape)


def _times(draw, dtype, n):
    if dtype == "<i8":
        steps = draw(hnp.arrays(np.int64, n, elements=st.integers(0, 10**9)))
        return np.cumsum(steps, dtype=np.int64) + draw(st.integers(-(10**12), 10**12))
    steps = draw(hnp.arrays(np.float64, n, elements=st.floats(0, 1e3)))
    return np.cumsum(steps) + draw(st.floats(-1e6, 1e6))


@st.composite
def episodes_1_1(draw, schema: dict, max_frames: int = 12, established=frozenset()):
    """add_episode kwargs for a 1.1 file of ``schema``: any column may be absent (at least one per-frame column
    is given), widths and camera resolutions vary per episode, states and extras may hold T + 1 rows (when a
    column of exactly T frames fixes T), streams have their own counts (0 included). ``established``: the fixed
    roles the file already holds (only those may be given in another float dtype)."""
    t = draw(st.integers(1, max_frames))
    ep: dict = {}
    if draw(st.booleans()):
        ep["actions"] = _fixed(draw, schema, "actions", (t, draw(st.sampled_from(schema["action_widths"]))),
                               established)
    if draw(st.booleans()):
        ep["rewards"] = _fixed(draw, schema, "rewards", (t,), established)
    if draw(st.booleans()):
        ep["is_terminal"] = _values(draw, "|b1", (t,))
    if schema["timestamps"] and draw(st.booleans()):
        ep["timestamps"] = _times(draw, schema["timestamps"], t)
    images = {}
    for name in schema["cameras"]:
        if draw(st.booleans()):
            h, w, c = draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.sampled_from([1, 3, 4]))
            images[name] = np.full((t, h, w, c), draw(st.integers(0, 255)), np.uint8)
            images[name].reshape(-1)[::3] = draw(st.integers(0, 255))
    if images:
        ep["images"] = images
    plus = st.sampled_from([0, 1]) if ep else st.just(0)  # T + 1 rows only when a T-frame column fixes T
    if draw(st.booleans()) or not ep:
        ep["states"] = _fixed(draw, schema, "states", (t + draw(plus), draw(st.sampled_from(schema["state_widths"]))),
                              established)
    columns = {name: _values(draw, dt, (t + draw(plus), *_dims(draw, ndim)))
               for name, (dt, ndim) in schema["extras"].items() if draw(st.booleans())}
    if columns:
        ep["columns"] = columns
    streams = {}
    for name, (times_dt, dt, ndim) in schema["streams"].items():
        if draw(st.booleans()):
            n = draw(st.integers(0, 2 * max_frames))
            streams[name] = (_times(draw, times_dt, n), _values(draw, dt, (n, *_dims(draw, ndim))))
    if streams:
        ep["streams"] = streams
    arrays = {name: _values(draw, dt, _dims(draw, ndim)) for name, (dt, ndim) in schema["episode_arrays"].items()
              if draw(st.booleans())}
    if arrays:
        ep["episode_arrays"] = arrays
    ep.update(task=draw(st.sampled_from(["", "pick", "place 機械"])), fps=draw(st.sampled_from([0.0, 10.0, 50.0])),
              success=draw(st.sampled_from([None, True, False])))
    return ep
