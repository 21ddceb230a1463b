"""What each column of an episode given to ``Writer.add_episode`` becomes: its role, dtype, frame count and shape.

Every rule here raises :class:`~kinonb.errors.SchemaError` naming the column, before any byte is written. The
roles' dtype, shape and flag rules themselves live in :mod:`kinonb.format.schema`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..codecs.registry import check_input, codec_of_input
from ..errors import InvalidArgumentError, SchemaError
from ..format import layout as L
from ..format.schema import (
    MAX_NAME_BYTES,
    RESERVED_SUFFIXES,
    ROLE_DTYPE_CHOICES,
    ROLE_FLAGS,
    ROLE_NDIM,
    ROLE_REQUIRED_FLAGS,
    Column,
    frame_shape_problem,
    is_reserved_name,
    storable_dtype,
    stream_times_name,
)
from .episode_input import as_array, convert_lossless, extra_dtype, utf8

#: The expected shape of each fixed role, for messages.
_SHAPE_HINT = {0: "(T,)", 3: "(T, H, W, C)"}
#: Roles whose frames are the episode's T frames; states and extra columns may also hold T + 1 (a final
#: observation); streams and episode arrays have their own counts.
_T_FRAMES = (L.ROLE_ACTIONS, L.ROLE_REWARDS, L.ROLE_IS_TERMINAL, L.ROLE_CAMERA, L.ROLE_TIMESTAMPS)
_T_OR_NEXT = (L.ROLE_STATES, L.ROLE_EXTRA)
#: Which column gives the episode's length T, first to last.
_LENGTH_ORDER = (L.ROLE_ACTIONS, L.ROLE_TIMESTAMPS, L.ROLE_REWARDS, L.ROLE_IS_TERMINAL, L.ROLE_CAMERA, L.ROLE_STATES,
                 L.ROLE_EXTRA)


@dataclass
class Given:
    """One column of the episode as given: its name, role and array."""

    name: str
    role: int
    value: np.ndarray


def _mapping(label: str, value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SchemaError(f"{label} must be a dict {{name: array}}, got {type(value).__name__}")
    return value


def episode_columns(actions, states, rewards, is_terminal, images, columns, timestamps=None, streams=None,
                    episode_arrays=None) -> tuple[int, list[Given]]:
    """The episode's length ``T`` and its columns, names checked and unique.

    ``T`` is the frame count of actions when given, else of timestamps, rewards, is_terminal, the first camera,
    states, the first extra column, in that order: states and extra columns may hold T + 1 rows.
    """
    # New columns take indices in this order (a 1.0 writer's, then the 1.1 kinds).
    given = [Given(key, role, as_array(key, v)) for key, role, v in (
        ("actions", L.ROLE_ACTIONS, actions), ("states", L.ROLE_STATES, states), ("rewards", L.ROLE_REWARDS, rewards),
        ("is_terminal", L.ROLE_IS_TERMINAL, is_terminal)) if v is not None]
    given += [Given(check_name(n, "camera"), L.ROLE_CAMERA, v if codec_of_input(v) is not None else as_array(n, v))
              for n, v in _mapping("images", images).items()]
    given += [Given(check_name(n, "column"), L.ROLE_EXTRA, as_array(n, v)) for n, v in _mapping("columns", columns).items()]
    if timestamps is not None:
        given.append(Given("timestamps", L.ROLE_TIMESTAMPS, as_array("timestamps", timestamps)))
    for n, pair in _mapping("streams", streams).items():
        check_name(n, "stream")
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise SchemaError(f"streams[{n!r}] must be a pair (timestamps, values)")
        given.append(Given(n, L.ROLE_STREAM, as_array(n, pair[1])))
        given.append(Given(stream_times_name(n), L.ROLE_STREAM_TIMESTAMPS, as_array(f"{n} timestamps", pair[0])))
    for n, v in _mapping("episode_arrays", episode_arrays).items():
        given.append(Given(check_name(n, "episode array"), L.ROLE_EPISODE_ARRAY, as_array(n, v)[None]))
    per_frame = sorted((g for g in given if g.role in _LENGTH_ORDER), key=lambda g: _LENGTH_ORDER.index(g.role))
    if not per_frame:
        raise SchemaError("empty episode: give actions, states, rewards, timestamps, images or columns with at "
                          "least one frame")
    first = per_frame[0]
    if first.value.ndim == 0 or first.value.shape[0] == 0:
        raise SchemaError(f"empty episode: {first.name} has 0 frames; every episode needs at least one frame")
    t = int(first.value.shape[0])
    if t > L.MAX_FRAMES:  # possible with zero-width columns; the reader would refuse the whole file
        raise SchemaError(f"episode of {t} frames: at most {L.MAX_FRAMES} frames per episode")
    names = [g.name for g in given]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise SchemaError(f"{dup}: given twice (cameras, extra columns, streams and episode arrays share one "
                          f"namespace)")
    return t, given


def check_name(name, kind: str) -> str:
    if not isinstance(name, str) or not name:
        raise SchemaError(f"{kind} names must be non-empty strings, got {name!r}")
    if is_reserved_name(name):
        raise SchemaError(f"{kind} name {name!r} is reserved (a read_episode or batch key, or a reserved ending "
                          f"{RESERVED_SUFFIXES}); rename it")
    if len(utf8(f"{kind} name", name)) > MAX_NAME_BYTES:
        raise SchemaError(f"{kind} name longer than {MAX_NAME_BYTES} bytes: {name[:40]!r}...")
    return name


def _frames_flag(g: Given, t: int) -> int:
    """COLUMN.flags bit this block's frame count needs (0 or COLUMN_OWN_FRAMES); raise when it does not fit."""
    n = int(g.value.shape[0])
    if g.role in _T_FRAMES and n != t:
        raise SchemaError(f"{g.name}: expected {t} frames (the episode's length), got shape {g.value.shape}")
    if g.role in _T_OR_NEXT and n not in (t, t + 1):
        raise SchemaError(f"{g.name}: expected {t} frames (the episode's length) or {t + 1} (with the final "
                          f"observation), got shape {g.value.shape}")
    if n > L.MAX_FRAMES:
        raise SchemaError(f"{g.name}: {n} frames; at most {L.MAX_FRAMES}")
    return ROLE_REQUIRED_FLAGS.get(g.role, L.COLUMN_OWN_FRAMES if n != t else 0)


def target_dtype(g: Given, existing: Column | None, requested: np.dtype | None) -> np.dtype:
    """The dtype column ``g`` is stored as: the file's, the requested one, the given float dtype of a fixed role,
    else the role's default."""
    if existing is not None:
        return existing.dtype
    if requested is not None:
        return requested
    choices = ROLE_DTYPE_CHOICES.get(g.role)
    if choices is None:
        return extra_dtype(g.name, g.value.dtype)
    le = g.value.dtype.newbyteorder("<") if g.value.dtype.byteorder == ">" else g.value.dtype
    if le in choices:
        return le
    if g.value.dtype.kind == "f" and choices[0].kind == "i":
        return next(c for c in choices if c.kind == "f")
    return choices[0]


def prepare_column(g: Given, t: int, existing: Column | None, camera_codec: int,
                   requested: np.dtype | None = None) -> tuple[Column, np.ndarray]:
    """Check and convert one column of an episode against the file's column of that name (``existing``, or None
    for a new one); return ``(Column, C-contiguous array)``. The Column may carry new flags (a width or frame
    count the file has not seen), which the writer records."""
    arr, name, role = g.value, g.name, g.role
    if codec_of_input(arr) is not None:
        return _prepare_encoded(g, t, existing)
    if arr.ndim == 0:
        raise SchemaError(f"{name}: expected an array of frames, got a scalar")
    ndim = ROLE_NDIM.get(role)
    if ndim is not None and arr.ndim - 1 != ndim:
        want = _SHAPE_HINT.get(ndim) or f"(T, {name[:-1] if name.endswith('s') else name}_dim)"
        hint = f" (use {name}.reshape(-1, 1) for 1-d {name})" if ndim == 1 and arr.ndim == 1 else ""
        raise SchemaError(f"{name}: expected shape {want}, got {arr.shape}{hint}")
    if arr.ndim - 1 > L.MAX_NDIM:
        raise SchemaError(f"{name}: at most {L.MAX_NDIM} dimensions per frame, got shape {arr.shape}")
    if existing is not None and existing.role != role:
        raise SchemaError(f"{name}: already a {L.ROLE_NAMES[existing.role]} column in this file, "
                          f"not a {L.ROLE_NAMES[role]}")
    flags = _frames_flag(g, t)
    if requested is not None:
        check_requested(g, requested)
    target = target_dtype(g, existing, requested)
    if requested is not None and not np.can_cast(arr.dtype, target, "safe"):
        flags |= L.COLUMN_CAST
        with np.errstate(over="ignore", invalid="ignore"):
            arr = arr.astype(target)
    arr = np.ascontiguousarray(convert_lossless(name, arr, target))
    shape = tuple(int(d) for d in arr.shape[1:])
    codec = (camera_codec if existing is None else existing.codec) if role == L.ROLE_CAMERA else L.CODEC_RAW
    problem = frame_shape_problem(role, shape, target, codec)
    if problem:
        raise SchemaError(f"{name}: per-frame shape {shape}: expected {problem}")
    if existing is None:
        source = g.value.dtype if flags & L.COLUMN_CAST else None
        return Column(name, role, target, shape, codec, flags, source), arr
    return _with_flags(g, existing, shape, flags), arr


def _with_flags(g: Given, existing: Column, shape: tuple[int, ...], flags: int) -> Column:
    """``existing`` with the flags this block needs (a new width or frame count), or SchemaError."""
    if existing.shape != shape:
        if len(existing.shape) != len(shape) or not ROLE_FLAGS[g.role] & L.COLUMN_VARIABLE_SHAPE:
            raise SchemaError(f"{g.name}: per-frame shape {shape} does not match the file's {existing.shape}")
        flags |= L.COLUMN_VARIABLE_SHAPE
    new_flags = existing.flags | flags
    if new_flags == existing.flags:
        return existing
    source = existing.source_dtype if existing.source_dtype is not None else (
        g.value.dtype if flags & L.COLUMN_CAST else None)
    return dataclasses.replace(existing, flags=new_flags, source_dtype=source)


def _prepare_encoded(g: Given, t: int, existing: Column | None):
    """A pre-encoded camera (EncodedJpeg / EncodedVideo): checked, stored as given in a column of its codec."""
    codec = codec_of_input(g.value)
    check_input(codec if existing is None else existing.codec, g.name, g.value)
    flags = _frames_flag(g, t)
    shape = tuple(int(d) for d in g.value.shape[1:])
    problem = frame_shape_problem(g.role, shape, np.dtype("|u1"), codec)
    if problem:
        raise SchemaError(f"{g.name}: per-frame shape {shape}: expected {problem}")
    if existing is None:
        return Column(g.name, g.role, np.dtype("|u1"), shape, codec, flags), g.value
    return _with_flags(g, existing, shape, flags), g.value


def parse_dtypes(dtypes) -> dict[str, np.dtype]:
    """``create(..., dtypes=)``: ``{column name: dtype}``, each a dtype a column may hold."""
    if dtypes is None:
        return {}
    if not isinstance(dtypes, dict):
        raise InvalidArgumentError(f"dtypes must be a dict {{column: dtype}}, e.g. {{'actions': 'float32'}}, got "
                                   f"{type(dtypes).__name__}")
    out = {}
    for name, dt in dtypes.items():
        try:
            stored = storable_dtype(dt)
        except TypeError:
            stored = None
        if not isinstance(name, str) or stored is None:
            raise InvalidArgumentError(f"dtypes[{name!r}]: {dt!r} is not a dtype a column can hold (bool, "
                                       f"int8..64, uint8..64, float16/32/64)")
        out[name] = stored
    return out


def check_requested(g: Given, requested: np.dtype) -> None:
    choices = ROLE_DTYPE_CHOICES.get(g.role)
    if choices is not None and requested not in choices:
        raise SchemaError(f"dtypes[{g.name!r}]: {requested} is not one of {[str(c) for c in choices]}, the dtypes a "
                          f"{L.ROLE_NAMES[g.role]} column may hold")


def check_timestamps(col: Column, arr: np.ndarray) -> None:
    """Frame and stream times must be finite and never decrease (latest-at lookups search them)."""
    if col.role not in (L.ROLE_TIMESTAMPS, L.ROLE_STREAM_TIMESTAMPS) or arr.size == 0:
        return
    bad = ~np.isfinite(arr) if arr.dtype.kind == "f" else np.zeros(arr.shape, bool)
    bad[1:] |= arr[1:] < arr[:-1]
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SchemaError(f"{col.name}: times must be finite and non-decreasing; value {arr[i].item()!r} at index "
                          f"{i}" + (f" follows {arr[i - 1].item()!r}" if i else ""))
