"""Checking and converting what ``Writer.add_episode`` is given, before any byte of the episode is written:
the episode's fields and the lossless value conversions (the columns themselves: :mod:`.column_input`).

Every rule here raises :class:`~kinonb.errors.SchemaError`; the writer only writes what passed.
"""

from __future__ import annotations

import json
import math

import numpy as np

from ..errors import SchemaError
from ..format import layout as L
from ..format.schema import storable_dtype

def check_episode_meta(task, embodiment, fps) -> float:
    """Check the episode's strings and fps; return fps as a float."""
    for label, s in (("task", task), ("embodiment", embodiment)):
        if not isinstance(s, str):
            raise SchemaError(f"{label} must be a str, got {type(s).__name__}")
    fps = float(fps)
    if not math.isfinite(fps) or fps < 0:
        raise SchemaError(f"fps must be finite and >= 0, got {fps}")
    return fps


def attrs_blob(attrs) -> bytes:
    if not attrs:
        return b""
    if not isinstance(attrs, dict) or not all(isinstance(k, str) for k in attrs):
        raise SchemaError("attrs must be a dict with str keys")
    try:
        return json.dumps(attrs, sort_keys=True, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise SchemaError(f"attrs must be JSON-serialisable (no NaN): {e}") from None


def as_bytes(arr: np.ndarray):
    return memoryview(arr.reshape(-1).view(np.uint8)) if arr.size else b""


def nonneg_int(label: str, v) -> int:
    if isinstance(v, (bool, np.bool_)) or int(v) != v or int(v) < 0 or int(v) >= 1 << 63:
        raise SchemaError(f"{label} must be an integer in [0, 2**63), got {v!r}")
    return int(v)


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
