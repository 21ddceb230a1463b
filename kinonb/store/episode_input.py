"""Checking and converting what ``Writer.add_episode`` is given, before any byte of the episode is written.

Every rule here raises :class:`~kinonb.errors.SchemaError` naming the column; the writer only writes what
passed. The dtype, shape and name rules themselves live in :mod:`kinonb.format.schema`.
"""

from __future__ import annotations

import json
import math
import numbers

import numpy as np

from ..errors import SchemaError
from ..format import layout as L
from ..format import success as success_code
from ..format.schema import (
    MAX_ATTRS_DEPTH,
    MAX_NAME_BYTES,
    RESERVED_NAMES,
    RESERVED_SUFFIXES,
    ROLE_DTYPES,
    ROLE_NDIM,
    Column,
    attrs_too_deep,
    frame_dims_problem,
    is_reserved_name,
    storable_dtype,
)

#: The expected shape of each fixed role, for messages.
_SHAPE_HINT = {0: "(T,)", 3: "(T, H, W, C)"}


def episode_columns(actions, states, rewards, is_terminal, images, columns) -> tuple[int, list]:
    """The episode's length ``T`` and its columns as ``[(name, role, value)]``, names checked and unique."""
    actions = as_array("actions", actions)
    if actions.ndim != 2:
        raise SchemaError(f"actions: expected a (T, action_dim) array, got shape {actions.shape}"
                          + (" (use actions.reshape(-1, 1) for 1-d actions)" if actions.ndim == 1 else ""))
    t = actions.shape[0]
    if t == 0:
        raise SchemaError("empty episode: actions has 0 frames; every episode needs at least one frame")
    if t > L.MAX_FRAMES:  # possible with zero-width columns; the reader would refuse the whole file
        raise SchemaError(f"episode of {t} frames: at most {L.MAX_FRAMES} frames per episode")
    given = [("actions", L.ROLE_ACTIONS, actions)]
    for name, role, value in (("states", L.ROLE_STATES, states), ("rewards", L.ROLE_REWARDS, rewards),
                              ("is_terminal", L.ROLE_IS_TERMINAL, is_terminal)):
        if value is not None:
            given.append((name, role, value))
    for name, frames in (images or {}).items():
        given.append((check_name(name, "camera"), L.ROLE_CAMERA, frames))
    for name, value in (columns or {}).items():
        given.append((check_name(name, "column"), L.ROLE_EXTRA, value))
    names = [g[0] for g in given]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise SchemaError(f"{dup}: given twice (a camera and an extra column cannot share a name)")
    return t, given


def check_name(name, kind: str) -> str:
    if not isinstance(name, str) or not name:
        raise SchemaError(f"{kind} names must be non-empty strings, got {name!r}")
    if name in RESERVED_NAMES:
        raise SchemaError(f"{kind} name {name!r} is reserved")
    if is_reserved_name(name):
        raise SchemaError(f"{kind} name {name!r} is reserved (a read_episode or batch key, or a reserved ending "
                          f"{RESERVED_SUFFIXES}); rename it")
    if len(_utf8(f"{kind} name", name)) > MAX_NAME_BYTES:
        raise SchemaError(f"{kind} name longer than {MAX_NAME_BYTES} bytes: {name[:40]!r}...")
    return name


def prepare_column(name: str, role: int, value, t: int, existing: Column | None, camera_codec: int):
    """Check and convert one column of an episode against the file's column of that name (``existing``, or
    None for a new one); return ``(Column, C-contiguous array)``."""
    arr = as_array(name, value)
    if arr.ndim == 0 or arr.shape[0] != t:
        raise SchemaError(f"{name}: expected {t} frames (the episode's length, from actions), got shape {arr.shape}")
    ndim = ROLE_NDIM.get(role)
    if ndim is not None and arr.ndim - 1 != ndim:
        want = _SHAPE_HINT.get(ndim) or f"(T, {name[:-1] if name.endswith('s') else name}_dim)"
        raise SchemaError(f"{name}: expected shape {want}, got {arr.shape}")
    if arr.ndim - 1 > L.MAX_NDIM:
        raise SchemaError(f"{name}: at most {L.MAX_NDIM} dimensions per frame, got shape {arr.shape}")
    if frame_dims_problem(arr.shape[1:]):
        raise SchemaError(f"{name}: per-frame shape {arr.shape[1:]} needs {frame_dims_problem(arr.shape[1:])}")
    if existing is not None and existing.role != role:
        raise SchemaError(f"{name}: already a {L.ROLE_NAMES[existing.role]} column in this file, "
                          f"not a {L.ROLE_NAMES[role]}")
    target = ROLE_DTYPES.get(role) or (existing.dtype if existing else _extra_dtype(name, arr.dtype))
    arr = np.ascontiguousarray(_convert(name, arr, target))
    if role == L.ROLE_CAMERA and (0 in arr.shape[1:3] or not 1 <= arr.shape[3] <= 4):
        raise SchemaError(f"{name}: camera frames must be (H, W, C) with H, W > 0 and 1 <= C <= 4, "
                          f"got {arr.shape[1:]}")
    shape = tuple(int(d) for d in arr.shape[1:])
    if existing is not None:
        if existing.shape != shape:
            raise SchemaError(f"{name}: per-frame shape {shape} does not match the file's {existing.shape}")
        return existing, arr
    col = Column(name, role, target, shape, camera_codec if role == L.ROLE_CAMERA else L.CODEC_RAW)
    if col.frame_nbytes > L.MAX_FRAME_NBYTES:
        raise SchemaError(f"{name}: frames of {col.frame_nbytes} bytes exceed the {L.MAX_FRAME_NBYTES}-byte limit")
    return col, arr


def check_episode_meta(task, embodiment, fps) -> float:
    """Check the episode's strings (str, encodable as utf-8) and fps; return fps as a float."""
    for label, s in (("task", task), ("embodiment", embodiment)):
        if not isinstance(s, str):
            raise SchemaError(f"{label} must be a str, got {type(s).__name__}")
        _utf8(label, s)
    fps = real_number("fps", fps)
    if not math.isfinite(fps) or fps < 0:
        raise SchemaError(f"fps must be finite and >= 0, got {fps}")
    return fps


def check_episode_fields(images, columns, success, total_reward, episode_id) -> tuple:
    """Check what ``add_episode`` is given besides the arrays and strings, before anything is interned or
    written; return ``(success code, total_reward float or None, episode_id int or None)``."""
    for label, value in (("images", images), ("columns", columns)):
        if value is not None and not isinstance(value, dict):
            raise SchemaError(f"{label} must be a dict of {{name: array}} or None, got {type(value).__name__}")
    code = success_code.encode(success)
    reward = None if total_reward is None else real_number("total_reward", total_reward)
    eid = None if episode_id is None else nonneg_int("episode_id", episode_id)
    return code, reward, eid


def attrs_blob(attrs) -> bytes:
    """The stored form of an episode's attrs: sorted-key JSON in utf-8, no NaN or Infinity, nested at most
    MAX_ATTRS_DEPTH deep; None or {} store nothing."""
    if attrs is None:
        return b""
    if not isinstance(attrs, dict) or not all(isinstance(k, str) for k in attrs):
        raise SchemaError(f"attrs must be a dict with str keys or None, got {type(attrs).__name__}")
    if not attrs:
        return b""
    try:
        blob = json.dumps(attrs, sort_keys=True, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as e:  # UnicodeEncodeError is a ValueError
        raise SchemaError(f"attrs must be JSON-serialisable, utf-8 encodable, without NaN: {e}") from None
    if attrs_too_deep(blob):
        raise SchemaError(f"attrs nest deeper than {MAX_ATTRS_DEPTH} levels of lists and dicts")
    return blob


def as_array(name: str, value) -> np.ndarray:
    """``np.asarray(value)``, with numpy's refusals (ragged lists, odd objects) as SchemaError naming the column."""
    try:
        return np.asarray(value)
    except (TypeError, ValueError, OverflowError) as e:
        raise SchemaError(f"{name}: expected an array, got {type(value).__name__} that numpy refuses: {e}") from None


def real_number(label: str, v) -> float:
    """A real number given as a Python or numpy number (not a bool, not a string) -> float."""
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v[()]
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Real, np.integer, np.floating)):
        raise SchemaError(f"{label} must be a number, got {type(v).__name__} {v!r}")
    return float(v)


def as_bytes(arr: np.ndarray):
    return memoryview(arr.reshape(-1).view(np.uint8)) if arr.size else b""


def nonneg_int(label: str, v) -> int:
    ok = not isinstance(v, (bool, np.bool_)) and isinstance(v, (numbers.Real, np.integer, np.floating))
    try:
        ok = ok and int(v) == v and 0 <= int(v) < 1 << 63
    except (ValueError, OverflowError):  # nan, inf
        ok = False
    if not ok:
        raise SchemaError(f"{label} must be an integer in [0, 2**63), got {v!r}")
    return int(v)


def _utf8(label: str, s: str) -> bytes:
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise SchemaError(f"{label} {s[:40]!r} is not valid unicode (a lone surrogate?): {e}") from None


def _extra_dtype(name: str, dt: np.dtype) -> np.dtype:
    stored = storable_dtype(dt)
    if stored is None:
        raise SchemaError(f"{name}: dtype {dt} is not storable; use bool, int8..64, uint8..64 or float16/32/64")
    return stored


def _convert(name: str, arr: np.ndarray, target: np.dtype) -> np.ndarray:
    """Convert to the column's dtype when no information is lost by kind; otherwise raise naming the column."""
    src = arr.dtype
    if src == target:
        return arr
    if target.kind == "f" and src.kind in "biuf":
        with np.errstate(over="ignore", invalid="ignore"):
            out = arr.astype(target)
        _check_float_cast(name, arr, out)
        return out
    if target.kind in "bui" and src.kind in "biu":
        info_ok = src.kind == "b" or (arr.size == 0) or _fits(arr, target)
        if info_ok:
            return arr.astype(target)
        raise SchemaError(f"{name}: values of dtype {src} do not fit the column's dtype {target}")
    if target.kind == "b" and src.kind in "f" and np.isin(arr, (0.0, 1.0)).all():
        return arr.astype(target)
    hint = " (convert images with .astype(np.uint8))" if target == np.uint8 and src.kind == "f" else ""
    raise SchemaError(f"{name}: cannot store dtype {src} as {target} without losing information{hint}")


def _check_float_cast(name: str, arr: np.ndarray, out: np.ndarray) -> None:
    """Float columns round to their dtype (float64 0.1 becomes float32's nearest), but lose nothing else: a finite
    value may not overflow to +-inf, and an integer must stay that integer; else SchemaError names the column,
    the value and its index."""
    if arr.size == 0 or arr.dtype.kind == "b":
        return
    if arr.dtype.kind == "f":
        if out.dtype.itemsize >= arr.dtype.itemsize:
            return
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(out) & np.isfinite(arr)
        why = f"overflows {out.dtype} (largest {np.finfo(out.dtype).max:g})"
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            bad = ~np.isfinite(out) | (out.astype(arr.dtype) != arr)
        why = f"is not exactly representable in {out.dtype}"
    if bad.any():
        where = tuple(int(i) for i in np.unravel_index(int(np.flatnonzero(bad)[0]), arr.shape))
        value = arr[where].item()
        raise SchemaError(f"{name}: value {value!r} at index {where[0] if len(where) == 1 else where} {why}; "
                          f"convert it yourself (e.g. scale it, or store it as an extra column of its dtype)")


def _fits(arr: np.ndarray, target: np.dtype) -> bool:
    if target.kind == "b":
        return bool(np.isin(arr, (0, 1)).all())
    info = np.iinfo(target)
    return bool(arr.min() >= info.min and arr.max() <= info.max)
