"""Hypothesis strategies for .knb files: per-file schemas and the add_episode kwargs that fit them."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

FLOATS = st.floats(width=32, allow_nan=True, allow_infinity=True)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@st.composite
def file_schemas(draw, max_dim: int = 32):
    """Per-file choices that every episode of the file shares: dims, which columns exist, camera shapes."""
    cameras = draw(st.dictionaries(st.sampled_from(["top", "wrist", "side"]),
                                   st.tuples(st.integers(1, 12), st.integers(1, 12), st.sampled_from([1, 3, 4])),
                                   max_size=2))
    return {
        "action_dim": draw(st.integers(0, max_dim)),
        "state_dim": draw(st.none() | st.integers(0, max_dim)),
        "rewards": draw(st.booleans()),
        "is_terminal": draw(st.booleans()),
        "cameras": cameras,
        "extra": draw(st.none() | st.sampled_from(["<f8", "<i4", "|u1", "|b1", "<f2", "<u8"])),
        "compression": draw(st.sampled_from([None, "lz4"])),
    }


@st.composite
def episodes(draw, schema: dict, max_frames: int = 500):
    """Keyword arguments for Writer.add_episode that fit ``schema``; optional columns may be left out."""
    t = draw(st.integers(1, max_frames) if draw(st.booleans()) else st.integers(1, 8))
    arrays = lambda dt, shape: draw(hnp.arrays(np.dtype(dt), shape, elements=FLOATS if dt == "<f4" else None))  # noqa: E731
    ep = {"actions": arrays("<f4", (t, schema["action_dim"]))}
    if schema["state_dim"] is not None and draw(st.booleans()):
        ep["states"] = arrays("<f4", (t, schema["state_dim"]))
    if schema["rewards"]:
        ep["rewards"] = arrays("<f4", (t,))
    if schema["is_terminal"]:
        ep["is_terminal"] = arrays("|b1", (t,))
    images = {}
    for name, (h, w, c) in schema["cameras"].items():
        if draw(st.booleans()):
            # Mostly-flat frames keep lz4 honest (compressible) while staying cheap to generate.
            base = draw(st.integers(0, 255))
            frames = np.full((t, h, w, c), base, np.uint8)
            frames.reshape(-1)[:: max(1, frames.size // 7 or 1)] = draw(st.integers(0, 255))
            images[name] = frames
    if images:
        ep["images"] = images
    if schema["extra"] and draw(st.booleans()):
        ep["columns"] = {"extra": arrays(schema["extra"], (t, 2))}
    ep["task"] = draw(TEXT)
    ep["embodiment"] = draw(st.sampled_from(["", "franka", "ur5", "pusht", "機械"]))
    ep["fps"] = draw(st.sampled_from([0.0, 10.0, 29.97, 50.0]))
    ep["success"] = draw(st.sampled_from([None, True, False]))
    ep["total_reward"] = draw(st.none() | st.floats(-1e6, 1e6))
    ep["attrs"] = draw(st.dictionaries(st.sampled_from(["operator", "seed", "ok"]),
                                       st.text(max_size=5) | st.integers(-5, 5) | st.booleans(), max_size=2))
    return ep
