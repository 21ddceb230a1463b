"""The draw of a weighted mixture: which sample of which source comes at each place of an epoch.

Torch-free and the one implementation: :class:`kinonb.torch.MixtureDataset` takes its epochs from
:func:`schedule`, and :func:`kinonb.ops.mixture.sample_mixture` (``kinonb mix --sample``) calls the same
function, so a preview shows exactly what training will read. Weights are checked in one place,
:func:`check_weights`, whoever receives them (a dict given to ``from_mixture``, ``PATH:WEIGHT`` on the command
line, a mixture plan).

Weights are relative: source ``s`` is drawn with probability ``p_s = w_s / sum(w)``; weight 0 never draws it.
An epoch is a function of ``(seed, epoch)`` alone (:func:`kinonb.sampling.order.rng`), so every rank computes
the same schedule and then takes its share of it (:mod:`kinonb.sampling.order`).

- ``replacement=True``: ``N`` draws (default: the samples of the weighted sources), each a source by ``p``, then
  a sample of it uniformly (file order, cycling, with ``shuffle=False``); a source's share is Binomial(N, p_s).
- ``replacement=False``: no sample twice; source ``s`` gives exactly ``round(p_s * N)`` (largest remainders)
  samples, a seeded subset, in shuffled turns. ``N`` defaults to the largest epoch no source runs out of.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import ArgumentTypeError, InvalidArgumentError
from .order import rng as epoch_rng


def _label(names, i: int) -> str:
    return repr(names[i]) if names is not None else f"source {i}"


def check_weights(weights, names=None, *, need_positive: bool = True) -> np.ndarray:
    """Mixture weights as float64: numbers (not strings or bools), finite, >= 0, at least one > 0.

    ``names`` (paths, in the same order) only label the error messages. TypeError for a non-number, ValueError
    otherwise; the messages say which source is wrong so a long ``--source`` list is quick to fix.
    ``need_positive=False`` skips the "at least one > 0" rule, for a part of a mixture checked on its own
    (one ``PATH:0`` on the command line is fine; the whole mixture is checked again when it is planned).
    """
    weights = list(weights)
    if not weights:
        raise InvalidArgumentError("a mixture needs at least one source")
    out = np.empty(len(weights), np.float64)
    for i, w in enumerate(weights):
        if isinstance(w, (bool, np.bool_)) or not isinstance(w, numbers.Real):
            raise ArgumentTypeError(f"weight of {_label(names, i)} must be a number, got {w!r}")
        out[i] = float(w)
        if not math.isfinite(out[i]) or out[i] < 0:
            raise InvalidArgumentError(f"weight of {_label(names, i)} must be finite and >= 0, got {w!r}")
    if need_positive and out.sum() <= 0:
        raise InvalidArgumentError("mixture weights sum to 0; give at least one source a weight > 0")
    return out


def _counts(p: np.ndarray, n: int) -> np.ndarray:
    """Integers ``c`` with ``sum(c) == n`` closest to ``p * n`` (largest remainders, ties to the first source)."""
    exact = p * n
    c = np.floor(exact).astype(np.int64)
    short = n - int(c.sum())
    if short:
        c[np.argsort(-(exact - c), kind="stable")[:short]] += 1
    return c


def _with_replacement(rng, sizes, offsets, p, n, shuffle) -> np.ndarray:
    """``n`` draws: all source labels first, then each source's local ids (one call per source, so the epoch
    costs O(sources) generator calls, not O(n))."""
    labels = rng.choice(len(sizes), size=n, p=p)
    out = np.empty(n, np.int64)
    for s in np.flatnonzero(p > 0):
        sel = np.flatnonzero(labels == s)
        local = rng.integers(0, sizes[s], len(sel)) if shuffle else np.arange(len(sel)) % sizes[s]
        out[sel] = offsets[s] + local
    return out


def _largest_epoch(sizes, p) -> int:
    """The largest ``N`` for which no source runs out without replacement: ``min_s floor(n_s / p_s)``."""
    active = p > 0
    with np.errstate(over="ignore", divide="ignore"):  # a tiny weight never limits the epoch: inf
        cap = int(min(np.floor(sizes[active] / p[active])))
    # floor(n_s / p_s) can overshoot by float rounding; step down until every count fits
    while cap > 0 and (_counts(p, cap) > sizes).any():
        cap -= 1
    return cap


def _without_replacement(rng, sizes, offsets, p, num_samples, shuffle) -> np.ndarray:
    """Exact per-source counts, each a seeded subset of the source, in shuffled turns."""
    cap = _largest_epoch(sizes, p)
    if num_samples is not None and int(num_samples) > cap:
        raise InvalidArgumentError(f"num_samples={num_samples} is more than a mixture without replacement can give: "
                         f"{cap} (a source would run out); use replacement=True or a smaller num_samples")
    n = cap if num_samples is None else int(num_samples)
    counts = _counts(p, n)
    labels = np.repeat(np.arange(len(sizes)), counts)
    rng.shuffle(labels)
    out = np.empty(n, np.int64)
    for s in np.flatnonzero(counts):
        picks = rng.permutation(sizes[s])[: counts[s]] if shuffle else np.arange(counts[s])
        out[labels == s] = offsets[s] + picks
    return out


def schedule(sizes, weights, seed: int, epoch: int, *, replacement: bool = True, num_samples=None,
             shuffle: bool = True, names=None) -> np.ndarray:
    """The global sample ids of one epoch of a mixture (source ``s``'s sample ``j`` is ``sum(sizes[:s]) + j``).

    ``sizes``: samples per source (after its filter); ``names`` label errors. See the module docstring.
    """
    sizes = np.asarray(sizes, np.int64)
    names = list(names) if names is not None else [str(i) for i in range(len(sizes))]
    weights = check_weights(weights, names)
    if len(weights) != len(sizes):
        raise InvalidArgumentError(f"{len(weights)} weights for {len(sizes)} sources")
    p = weights / weights.sum()
    for s in np.flatnonzero((p > 0) & (sizes == 0)):
        raise InvalidArgumentError(f"mixture source {names[s]} has weight {weights[s]} but no sample (check its filter)")
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    rng = epoch_rng(seed, epoch)
    if replacement:
        n = int(sizes[p > 0].sum()) if num_samples is None else int(num_samples)
        return _with_replacement(rng, sizes, offsets, p, n, shuffle)
    return _without_replacement(rng, sizes, offsets, p, num_samples, shuffle)
