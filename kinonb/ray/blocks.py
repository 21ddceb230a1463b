"""Ray blocks: pyarrow tables whose array columns are Ray tensor columns.

A window batch's ``(B, W, ...)`` arrays become fixed-shape tensor columns (each row ``(W, ...)``), 1-D ones
plain Arrow columns. An episode batch's arrays are variable-shaped tensor columns (episodes differ in length),
whatever the lengths in one block, so every block of a read has the same column types.
"""

from __future__ import annotations

import numpy as np

from .rows import EPISODE_META


def window_block(batch: dict):
    """A block from one ``SampleIndex.read`` batch."""
    import pyarrow as pa
    from ray.data.extensions import ArrowTensorArray

    cols = {}
    for name, value in batch.items():
        value = np.ascontiguousarray(value)
        cols[name] = pa.array(value) if value.ndim == 1 else ArrowTensorArray.from_numpy(value)
    return pa.table(cols)


def episode_block(rows: list[dict], columns: list[str]):
    """A block of episode rows: each a dict of :data:`EPISODE_META` values and the arrays of ``columns``."""
    import pyarrow as pa
    from ray.data.extensions import ArrowVariableShapedTensorArray

    cols = {}
    for name, dtype in EPISODE_META.items():
        values = [r[name] for r in rows]
        if dtype is object:
            cols[name] = pa.array(values, pa.string())
        elif dtype is np.bool_:
            cols[name] = pa.array(values, pa.bool_())
        else:
            cols[name] = pa.array(np.asarray(values, dtype))
    for name in columns:
        arrays = np.empty(len(rows), object)
        for k, r in enumerate(rows):  # one by one: a list of equal shapes would be stacked by numpy
            arrays[k] = np.ascontiguousarray(r[name])
        cols[name] = ArrowVariableShapedTensorArray.from_numpy(arrays)
    return pa.table(cols)
