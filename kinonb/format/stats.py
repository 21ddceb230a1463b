"""Per-column running statistics (count, NaN/Inf counts, min, max, mean, M2), merged with Chan's formula."""

from __future__ import annotations

import math

import numpy as np

from . import layout as L


def empty() -> np.ndarray:
    s = np.zeros((), L.STAT)
    s["min"] = s["max"] = s["mean"] = math.nan
    return s


def of_array(a: np.ndarray) -> np.ndarray:
    """Statistics of every scalar element of ``a``; NaN and +-Inf are counted, not folded in."""
    s = empty()
    flat = a.reshape(-1)
    if flat.size == 0:
        return s
    if flat.dtype.itemsize == 1 and flat.dtype.kind in "bui":
        # Exact and allocation-light for images: a 256-bin histogram instead of a float64 copy.
        values = flat.view(np.uint8)
        hist = np.bincount(values, minlength=256).astype(np.float64)
        levels = np.arange(256, dtype=np.float64)
        if flat.dtype.kind == "i":
            levels = np.where(levels >= 128, levels - 256, levels)
        nz = levels[hist > 0]
        count = hist.sum()
        mean = float((hist * levels).sum() / count)
        s["count"] = int(count)
        s["min"], s["max"], s["mean"] = nz.min(), nz.max(), mean
        s["m2"] = float((hist * (levels - mean) ** 2).sum())
        return s
    x = flat.astype(np.float64, copy=False)
    finite = np.isfinite(x)
    s["nan_count"] = int(np.isnan(x).sum())
    s["inf_count"] = int(flat.size - finite.sum() - s["nan_count"])
    v = x if finite.all() else x[finite]
    if v.size:
        mean = float(v.mean())
        s["count"] = v.size
        s["min"], s["max"], s["mean"] = v.min(), v.max(), mean
        with np.errstate(over="ignore"):  # values near the float64 limit: the spread is inf, honestly
            s["m2"] = float(((v - mean) ** 2).sum())
    return s


def merge(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = empty()
    out["nan_count"] = a["nan_count"] + b["nan_count"]
    out["inf_count"] = a["inf_count"] + b["inf_count"]
    na, nb = int(a["count"]), int(b["count"])
    if na == 0 or nb == 0:
        src = a if nb == 0 else b
        for f in ("count", "min", "max", "mean", "m2"):
            out[f] = src[f]
        return out
    n = na + nb
    delta = float(b["mean"]) - float(a["mean"])
    out["count"] = n
    out["min"] = min(float(a["min"]), float(b["min"]))
    out["max"] = max(float(a["max"]), float(b["max"]))
    out["mean"] = float(a["mean"]) + delta * nb / n
    out["m2"] = float(a["m2"]) + float(b["m2"]) + delta * delta * na * nb / n
    return out


def remove(total: np.ndarray, part: np.ndarray) -> np.ndarray:
    """``total`` without the elements ``part`` summarises (an edit's deleted or replaced block): Chan's formula
    solved for one side. count, mean, m2 and the NaN/Inf counts are exact up to rounding; min and max cannot be
    undone and stay bounds of what is left (format_spec.md §10)."""
    out = total.copy()
    out["nan_count"] = max(0, int(total["nan_count"]) - int(part["nan_count"]))
    out["inf_count"] = max(0, int(total["inf_count"]) - int(part["inf_count"]))
    n, nb = int(total["count"]), int(part["count"])
    if nb == 0:
        return out
    na = n - nb
    if na <= 0:
        kept = empty()
        kept["nan_count"], kept["inf_count"] = out["nan_count"], out["inf_count"]
        return kept
    mean_a = (n * float(total["mean"]) - nb * float(part["mean"])) / na
    delta = float(part["mean"]) - mean_a
    out["count"] = na
    out["mean"] = mean_a
    out["m2"] = max(0.0, float(total["m2"]) - float(part["m2"]) - delta * delta * na * nb / n)
    return out


def describe(s) -> dict:
    count = int(s["count"])
    std = math.sqrt(max(float(s["m2"]), 0.0) / count) if count else math.nan
    return {
        "min": float(s["min"]),
        "max": float(s["max"]),
        "mean": float(s["mean"]),
        "std": std,
        "count": count,
        "nan_count": int(s["nan_count"]),
        "inf_count": int(s["inf_count"]),
    }
