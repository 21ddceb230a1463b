"""MetaTable: the columns of episode metadata that KQL evaluates, one entry per episode position.

The reader builds it from the footer; `from_records` builds it from `read_meta`-shaped dicts (tests, interop).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

from ..errors import InvalidArgumentError
from ..format import success as success_code


class _Missing:
    """The value of `attrs(key)` for an episode without that key (JSON null is None, a different thing)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self):
        return (_Missing, ())


MISSING = _Missing()



# eq=False: generated __eq__ would compare arrays elementwise; identity equality keeps the table hashable.
@dataclass(frozen=True, eq=False)
class MetaTable:
    episode_id: np.ndarray  # int64 (n,)
    num_frames: np.ndarray  # int64
    fps: np.ndarray  # float64
    success: np.ndarray  # int8 codes of kinonb.format.success: 0 unknown, 1 false, 2 true
    total_reward: np.ndarray  # float64, NaN where has_reward is False
    has_reward: np.ndarray  # bool
    action_dim: np.ndarray  # int64
    state_dim: np.ndarray  # int64
    task_id: np.ndarray  # int64 index into strings
    embodiment_id: np.ndarray  # int64 index into strings
    strings: Sequence[str]  # string table
    cameras: Mapping[str, np.ndarray]  # camera name -> bool (n,): the episode has this camera
    attrs: Callable[[str], np.ndarray]  # key -> object (n,): the JSON value of attrs[key], or MISSING

    def __post_init__(self):
        n = len(self.episode_id)
        for f in fields(self):
            if f.name not in ("strings", "cameras", "attrs") and len(getattr(self, f.name)) != n:
                raise InvalidArgumentError(f"MetaTable.{f.name} has {len(getattr(self, f.name))} entries, expected {n}")
        for name, present in self.cameras.items():
            if len(present) != n:
                raise InvalidArgumentError(f"MetaTable.cameras[{name!r}] has {len(present)} entries, expected {n}")

    def __len__(self) -> int:
        return len(self.episode_id)


def attr_lookup(n: int, attrs_of: Callable[[int], Mapping]) -> Callable[[str], np.ndarray]:
    """``MetaTable.attrs`` over ``n`` episodes whose attrs dicts ``attrs_of(i)`` returns; every key's column is
    built on the first lookup of any key (one pass over the episodes), then each lookup is a dict access."""
    columns: dict | None = None

    def attrs(key: str) -> np.ndarray:
        nonlocal columns
        if columns is None:
            columns = {}
            for i in range(n):
                for k, value in attrs_of(i).items():
                    columns.setdefault(k, np.full(n, MISSING, dtype=object))[i] = value
        found = columns.get(key)
        return found if found is not None else np.full(n, MISSING, dtype=object)

    return attrs


def from_records(records: Iterable[Mapping]) -> MetaTable:
    """A MetaTable from per-episode dicts shaped like `read_meta` (plus optional state_dim, cameras, attrs)."""
    records = list(records)
    n = len(records)
    strings: dict[str, int] = {}

    def column(key, dtype, default=0):
        return np.array([r.get(key, default) for r in records], dtype=dtype).reshape(n)

    def string_ids(key):
        return np.array([strings.setdefault(r[key], len(strings)) for r in records], dtype=np.int64).reshape(n)

    embodiment_id, task_id = string_ids("embodiment"), string_ids("task")
    rewards = [r.get("total_reward") for r in records]
    camera_names = dict.fromkeys(name for r in records for name in r.get("cameras", ()))
    return MetaTable(
        episode_id=column("episode_id", np.int64),
        num_frames=column("num_frames", np.int64),
        fps=column("fps", np.float64),
        success=np.array([success_code.encode(r.get("success")) for r in records], dtype=np.int8).reshape(n),
        total_reward=np.array([np.nan if x is None else x for x in rewards], dtype=np.float64).reshape(n),
        has_reward=np.array([x is not None for x in rewards], dtype=bool).reshape(n),
        action_dim=column("action_dim", np.int64),
        state_dim=column("state_dim", np.int64),
        embodiment_id=embodiment_id,
        task_id=task_id,
        strings=list(strings),
        cameras={name: np.array([name in r.get("cameras", ()) for r in records], dtype=bool) for name in camera_names},
        attrs=attr_lookup(n, lambda i: records[i].get("attrs", {})),
    )
