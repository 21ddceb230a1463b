"""Consecutive small episodes of the same shape written with one ``Writer.add_episodes`` call: how
``write_episodes`` (every ingest, merge, export to .knb) keeps up with many small episodes.

An episode joins the current batch when it holds only what ``add_episodes`` takes (low-dim roles and extra
columns of exactly T rows, the per-episode values; no cameras, attrs, timestamps, streams or episode arrays) and
its columns have the batch's names, dtypes and per-frame shapes. A batch is written when the next episode does
not fit, or at ``BATCH_EPISODES`` episodes or ``BATCH_BYTES`` of arrays. The file is the one an ``add_episode``
loop would write (tests/store/test_add_episodes.py). When a batch is refused, its episodes are added one by one
instead (nothing of the refused call was written), so the error names the episode at fault, as before.
"""

from __future__ import annotations

import numpy as np

from ..errors import SchemaError

ROLES = ("actions", "states", "rewards", "is_terminal")
VALUES = ("task", "embodiment", "fps", "success", "total_reward", "episode_id")
DEFAULTS = {"task": "", "embodiment": "", "fps": 0.0, "success": None}  # add_episode's
EMPTY_OK = ("images", "columns", "attrs", "timestamps", "streams", "episode_arrays")
BATCH_EPISODES = 4096
BATCH_BYTES = 32 << 20


def signature(ep: dict):
    """What consecutive episodes must share to be batched, or None when ``ep`` cannot be."""
    for k, v in ep.items():
        if k not in ROLES and k not in VALUES and k not in EMPTY_OK:
            return None
        if k in EMPTY_OK and k != "columns" and not (v is None or (isinstance(v, dict) and not v)):
            return None
    arrays = {k: ep[k] for k in ROLES if ep.get(k) is not None}
    columns = ep.get("columns") or {}
    if not isinstance(columns, dict):
        return None
    arrays.update((f"columns/{k}", v) for k, v in columns.items())
    if not arrays or not all(isinstance(a, np.ndarray) and a.ndim >= 1 for a in arrays.values()):
        return None
    t = len(arrays.get("actions", next(iter(arrays.values()))))
    if t == 0 or any(len(a) != t for a in arrays.values()):
        return None  # T + 1 states or columns, or empty: add_episode's own rules
    return (tuple((k, a.dtype.str, a.shape[1:]) for k, a in arrays.items()),
            ep.get("total_reward") is None, ep.get("episode_id") is None)


class Batches:
    """Feeds episodes to ``writer``: ``add(ep, where)``, then ``flush()``; ``on_added(ep)`` after each one."""

    def __init__(self, writer, on_added):
        self._w, self._on_added = writer, on_added
        self._eps, self._where, self._key, self._bytes = [], [], None, 0

    def add(self, ep: dict, where) -> None:
        key = signature(ep)
        if key is None or key != self._key or len(self._eps) >= BATCH_EPISODES or self._bytes >= BATCH_BYTES:
            self.flush()
        if key is None:
            self._one(ep, where)
            return
        self._key = key
        self._eps.append(ep)
        self._where.append(where)
        self._bytes += sum(a.nbytes for a in _arrays(ep))

    def flush(self) -> None:
        eps, where = self._eps, self._where
        self._eps, self._where, self._key, self._bytes = [], [], None, 0
        if len(eps) == 1:
            self._one(eps[0], where[0])
        elif eps:
            try:
                self._w.add_episodes(**_batch(eps))
            except SchemaError:
                for ep, w in zip(eps, where):  # the refused call wrote nothing: find the episode at fault
                    self._one(ep, w)
                return
            for ep in eps:
                self._on_added(ep)

    def _one(self, ep: dict, where) -> None:
        try:
            self._w.add_episode(**ep)
        except SchemaError as e:
            raise SchemaError(f"{where}: {e}") from e
        self._on_added(ep)


def _arrays(ep: dict):
    yield from (ep[k] for k in ROLES if ep.get(k) is not None)
    yield from (ep.get("columns") or {}).values()


def _batch(eps: list[dict]) -> dict:
    first = eps[0]
    kw = {"lengths": [len(next(_arrays(ep))) for ep in eps]}
    for k in ROLES:
        if first.get(k) is not None:
            kw[k] = np.concatenate([ep[k] for ep in eps])
    if first.get("columns"):
        kw["columns"] = {name: np.concatenate([ep["columns"][name] for ep in eps]) for name in first["columns"]}
    for k in VALUES:
        values = [ep.get(k, DEFAULTS.get(k)) for ep in eps]
        if k in ("total_reward", "episode_id") and values[0] is None:
            continue  # the signature made it None for the whole batch
        kw[k] = values
    return kw
