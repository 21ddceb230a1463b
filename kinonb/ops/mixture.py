"""Planning a weighted mixture of files: what ``kinonb mix`` shows before a training run.

``mixture(sources)`` is the plan (each source's weight, share of the draws, episodes and frames);
``sample_mixture(plan, n, seed)`` previews the draw. The preview is not a look-alike: it calls the same
:func:`kinonb.sampling.mixture.schedule` that :func:`kinonb.torch.from_mixture` takes its epochs from, with the
same defaults, so ``sample_mixture(mixture([(a, wa), (b, wb)]), n, seed)`` is, pair by pair, the (source,
episode) sequence that ``from_mixture({a: wa, b: wb}, seed=seed, num_samples=n)`` yields in whole-episode mode
(no windows, no filters, one process) in epoch 0. Weights are checked by
:func:`kinonb.sampling.mixture.check_weights`, as everywhere else.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import InvalidArgumentError
from ..sampling.mixture import check_weights, schedule
from ..sampling.order import check_int


def parse_source(text: str) -> tuple[str, float]:
    """``"path:weight"`` -> (path, weight); a bare path has weight 1. Raises ValueError on a bad weight.

    Only a suffix without a path separator is a weight, so ``C:/data/x.knb`` is a path of weight 1.
    """
    path, sep, weight = text.rpartition(":")
    if not sep or not path or "/" in weight or os.sep in weight:
        return text, 1.0
    try:
        w = float(weight)
    except ValueError:
        raise InvalidArgumentError(f"--source {text!r}: weight {weight!r} is not a number (expected PATH:WEIGHT)") from None
    try:
        check_weights([w], [path], need_positive=False)  # one PATH:0 is fine; mixture() needs one > 0
    except ValueError as e:
        raise InvalidArgumentError(f"--source {text!r}: {e}") from None
    return path, w


def mixture(sources) -> list[dict]:
    """Normalise relative weights over ``[(path, weight), ...]``; one dict per source with its episode counts.

    As kinodb's ``from_mixture``: weights are relative, each source is drawn with probability weight / sum.
    A source with a weight but no episode raises ValueError here, before anything is sampled.
    """
    from ..interop.opener import open as open_db

    sources = list(sources)
    weights = check_weights([w for _, w in sources], [str(p) for p, _ in sources])
    total = weights.sum()
    plan = []
    for (path, _), w in zip(sources, weights):
        db = open_db(path)
        if w > 0 and len(db) == 0:
            raise InvalidArgumentError(f"{path} has no episodes but weight {w:g}")
        plan.append({"path": str(path), "weight": float(w), "share": float(w / total), "episodes": len(db),
                     "frames": db.num_frames()})
    return plan


def sample_mixture(plan: list[dict], n: int, seed: int = 42, *, epoch: int = 0, replacement: bool = True,
                   shuffle: bool = True):
    """Draw ``n`` (source index, episode position) pairs exactly as ``from_mixture`` would.

    The plan's weights and episode counts go to :func:`kinonb.sampling.mixture.schedule` with
    ``num_samples=n`` (``seed``, ``epoch``, ``replacement`` and ``shuffle`` with ``from_mixture``'s defaults);
    its global ids are split back into (source, position). Returns ``(pairs (n, 2) int64, counts per source)``.
    """
    n = check_int("sample size", n)
    sizes = np.array([s["episodes"] for s in plan], np.int64)
    ids = schedule(sizes, [s["weight"] for s in plan], seed, epoch, replacement=replacement, num_samples=n,
                   shuffle=shuffle, names=[s["path"] for s in plan])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    src = (np.searchsorted(offsets, ids, side="right") - 1).astype(np.int64)
    pairs = np.stack([src, ids - offsets[src]], axis=1).astype(np.int64).reshape(-1, 2)
    return pairs, np.bincount(src, minlength=len(plan)).astype(np.int64)
