"""The MetaTable (KQL's columns) of a .knb commit, from its checked episode index."""

from __future__ import annotations

import numpy as np

from ..format import layout as L
from ..query import MetaTable, attr_lookup


def build_meta_table(index, columns: list, role_col: dict, cameras: list, strings: list) -> MetaTable:
    index.ensure_all()
    eps = index.episodes
    present = (index.blocks["flags"] & L.BLOCK_PRESENT) != 0 if len(columns) else np.zeros((index.n, 0), bool)

    def dim(role):
        c = role_col.get(role)
        if c is None:
            return np.zeros(index.n, np.int64)
        width = index.shapes["shape"][:, c, 0] if columns[c].variable_shape else columns[c].shape[0]
        return np.where(present[:, c], width, 0).astype(np.int64)

    has_reward = (eps["flags"] & L.EPISODE_HAS_REWARD) != 0
    return MetaTable(
        episode_id=eps["episode_id"].astype(np.int64),
        num_frames=eps["num_frames"].astype(np.int64),
        fps=eps["fps"].astype(np.float64),
        success=eps["success"].astype(np.int8),
        total_reward=np.where(has_reward, eps["total_reward"], np.nan),
        has_reward=has_reward,
        action_dim=dim(L.ROLE_ACTIONS),
        state_dim=dim(L.ROLE_STATES),
        task_id=eps["task_id"].astype(np.int64),
        embodiment_id=eps["embodiment_id"].astype(np.int64),
        strings=strings,
        cameras={columns[c].name: present[:, c].copy() for c in cameras},
        attrs=attr_lookup(index.n, index.attrs),
    )
