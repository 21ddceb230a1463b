"""One :class:`~kinonb.query.MetaTable` for a sharded dataset: its shards' tables end to end, so that one KQL query
runs over every episode and answers dataset positions (shard ``s``'s episode ``j`` is ``offsets[s] + j``)."""

from __future__ import annotations

import numpy as np

from ...query.table import MISSING, MetaTable

_PER_EPISODE = ("episode_id", "num_frames", "fps", "success", "total_reward", "has_reward", "action_dim", "state_dim")


def concat_tables(tables: list[MetaTable]) -> MetaTable:
    """The tables of the shards, in order, as one: string tables merged (each shard's task and embodiment ids
    mapped into the merged table), a camera absent from a shard is False there, attrs looked up per shard."""
    strings: dict[str, int] = {}
    task_id, embodiment_id = [], []
    for t in tables:
        remap = np.array([strings.setdefault(s, len(strings)) for s in t.strings] or [0], np.int64)
        task_id.append(remap[t.task_id] if len(t) else np.zeros(0, np.int64))
        embodiment_id.append(remap[t.embodiment_id] if len(t) else np.zeros(0, np.int64))
    cameras = dict.fromkeys(name for t in tables for name in t.cameras)
    columns = {f: np.concatenate([getattr(t, f) for t in tables]) for f in _PER_EPISODE}
    return MetaTable(
        **columns,
        task_id=np.concatenate(task_id),
        embodiment_id=np.concatenate(embodiment_id),
        strings=list(strings),
        cameras={name: np.concatenate([t.cameras.get(name, np.zeros(len(t), bool)) for t in tables])
                 for name in cameras},
        attrs=_attrs(tables),
    )


def _attrs(tables: list[MetaTable]):
    cache: dict = {}

    def attrs(key: str) -> np.ndarray:
        found = cache.get(key)
        if found is None:
            parts = [t.attrs(key) for t in tables]
            found = cache[key] = np.concatenate(parts) if parts else np.full(0, MISSING, dtype=object)
        return found

    return attrs
