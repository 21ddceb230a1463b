"""A small end-to-end example: write a synthetic dataset, read it back, print what is in it.

    python -m kinonb.example [PATH]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import kinonb

TASKS = ["push the T block", "open the drawer", "pick up the cube", "stack the blocks"]
EMBODIMENTS = ["pusht", "franka", "ur5"]


def synthetic_episode(rng: np.random.Generator, i: int, images: bool = True) -> dict:
    """One smooth synthetic episode (deterministic for a given rng state)."""
    t = int(rng.integers(20, 60))
    phase = np.linspace(0, 1, t, dtype=np.float32)[:, None]
    states = np.sin(phase * np.arange(1, 6, dtype=np.float32) + i).astype(np.float32)
    actions = np.diff(np.vstack([states[:1], states]), axis=0)[:, :2].astype(np.float32)
    rewards = np.zeros(t, np.float32)
    success = bool(i % 3)
    rewards[-1] = float(success)
    episode = dict(
        actions=actions, states=states, rewards=rewards, is_terminal=np.arange(t) == t - 1,
        task=TASKS[i % len(TASKS)], embodiment=EMBODIMENTS[i % len(EMBODIMENTS)], fps=10.0,
        success=success, total_reward=float(success), attrs={"operator": ["alice", "bob"][i % 2]},
    )
    if images:
        y, x = np.mgrid[0:32, 0:32]
        frames = np.empty((t, 32, 32, 3), np.uint8)
        frames[..., 0] = (x * 8)[None]
        frames[..., 1] = (y * 8)[None]
        frames[..., 2] = (phase[:, 0, None, None] * 255).astype(np.uint8)
        episode["images"] = {"top": frames}
    return episode


def write_example(path, episodes: int = 20, seed: int = 0, compression: str | None = "lz4") -> Path:
    rng = np.random.default_rng(seed)
    with kinonb.create(path, overwrite=True, compression=compression) as w:
        for i in range(episodes):
            w.add_episode(**synthetic_episode(rng, i))
    return Path(path)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else Path(tempfile.mkdtemp()) / "example.knb"
    t0 = time.perf_counter()
    write_example(path)
    t1 = time.perf_counter()
    db = kinonb.open(path)
    print(db.summary())
    ep = db.read_episode(0)
    print(f"\nwrote {db.num_episodes()} episodes ({path.stat().st_size / 1e6:.2f} MB) in {t1 - t0:.3f} s")
    print(f"episode 0: actions {ep['actions'].shape}, states {ep['states'].shape}, "
          f"top {ep['images']['top'].shape}, meta {ep['meta']}")
    print(f"actions stats: {db.stats()['actions']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
