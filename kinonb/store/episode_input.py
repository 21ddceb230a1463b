"""Checking and converting what ``Writer.add_episode`` is given, before any byte of the episode is written:
the episode's fields and the lossless value conversions (the columns themselves: :mod:`.column_input`).

Every rule here raises :class:`~kinonb.errors.SchemaError`; the writer only writes what passed.
"""

from __future__ import annotations

import json
import math
import numbers

import numpy as np

from ..errors import SchemaError
from ..format import success as success_code
from ..format.schema import MAX_ATTRS_DEPTH, attrs_too_deep, storable_dtype


def check_episode_meta(task, embodiment, fps) -> float:
    """Check the episode's strings (str, encodable as utf-8) and fps; return fps as a float."""
    for label, s in (("task", task), ("embodiment", embodiment)):
        if not isinstance(s, str):
            raise SchemaError(f"{label} must be a str, got {type(s).__name__}")
        utf8(label, s)
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
    if isinstance(value, (dict, str, bytes)) or value is None:
        raise SchemaError(f"{name}: expected an array, got {type(value).__name__}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError, OverflowError) as e:
        raise SchemaError(f"{name}: expected an array, got {type(value).__name__} that numpy refuses: {e}") from None
    if arr.dtype == object:
        raise SchemaError(f"{name}: not a numeric array (dtype object: ragged or mixed values)")
    return arr


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


def utf8(label: str, s: str) -> bytes:
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise SchemaError(f"{label} {s[:40]!r} is not valid unicode (a lone surrogate?): {e}") from None


def extra_dtype(name: str, dt: np.dtype) -> np.dtype:
    stored = storable_dtype(dt)
    if stored is None:
        raise SchemaError(f"{name}: dtype {dt} is not storable; use bool, int8..64, uint8..64 or float16/32/64")
    return stored


def convert_lossless(name: str, arr: np.ndarray, target: np.dtype) -> np.ndarray:
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
