"""Weighted mixtures of files: ``from_mixture({path: weight}, seed=..., ...)`` -> :class:`MixtureDataset`.

Weights are relative (they need not sum to 1); source ``s`` is drawn with probability
``p_s = w_s / sum(w)``. A source with weight 0 is never drawn. Each source may have its own KQL filter
(``kql_filters={path: kql}``, or a list with one filter or None per source in the order of the dict;
``kql_filter`` applies to the sources not named there). Every sample carries
``source``, the source's path as given.

One epoch is one *schedule* of sample ids (:func:`kinonb.sampling.mixture.schedule`, torch-free, the same draw
``kinonb mix --sample`` previews), a function of ``(seed, epoch)`` alone, then split across ranks and workers like
any :class:`~kinonb.torch.KinoIterDataset` order:

- ``replacement=True`` (default, like kinodb's cycling mixtures): ``N = num_samples`` draws (default: the total
  number of samples over the weighted sources). Each draw picks a source with probability ``p_s``, then a
  sample of that source uniformly at random (so a sample may come twice in an epoch and another not at all;
  with ``shuffle=False`` a source's samples are taken in file order, cycling). The share of source ``s`` in an
  epoch is Binomial(N, p_s).
- ``replacement=False``: no sample comes twice in an epoch. Source ``s`` contributes exactly
  ``c_s = round(p_s * N)`` samples (largest remainders, so the counts sum to ``N``), a seeded random subset
  of its samples (its first ``c_s`` samples with ``shuffle=False``), and the sources' turns are shuffled. ``N``
  defaults to the largest epoch in which no source runs out, ``min_s floor(n_s / p_s)``; a larger
  ``num_samples`` raises ValueError.

Sources whose low-dim keys differ in their last axis (robots with other action or state dims) are padded:
batches assembled in the worker (``batch_size=``) are zero-padded to :attr:`MixtureDataset.pad_dims` with
``{key}_dim_mask``; single samples keep their own width and ``collate_fn=mix.collate`` (``pad_collate`` with
those widths) pads them.
"""

from __future__ import annotations

from ..errors import ArgumentTypeError
from .iter_dataset import KinoIterDataset


class MixtureDataset(KinoIterDataset):
    """A :class:`~kinonb.torch.KinoIterDataset` over ``{path: weight}``; see the module docstring."""

    def __init__(self, sources: dict, seed: int = 42, *, kql_filters=None,
                 replacement: bool = True, num_samples: int | None = None, **kwargs):
        if not isinstance(sources, dict) or not sources:
            raise ArgumentTypeError("a mixture needs a non-empty dict {path: weight}")
        super().__init__(sources, seed=seed, kql_filters=kql_filters, replacement=replacement,
                         num_samples=num_samples, **kwargs)


def from_mixture(sources: dict, seed: int = 42, **kwargs) -> MixtureDataset:
    """A weighted mixture of files (kinodb's name and arguments): ``from_mixture({path: weight}, seed=42,
    windows=..., kql_filters={path: kql}, replacement=True, ...)``; other keywords as for KinoIterDataset."""
    return MixtureDataset(sources, seed=seed, **kwargs)
