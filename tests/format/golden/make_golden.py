"""Writes the golden v1.0 file. Run once per released format version; never regenerate an old one.

    python tests/golden/make_golden.py tests/golden/v1_0.knb
"""

import sys

import numpy as np

import kinonb


def golden_episodes():
    """Two commits, three episodes: every role, an extra column, raw and lz4 cameras, nulls and unicode."""
    a = np.arange(12, dtype=np.float32).reshape(4, 3) / 4
    yield dict(actions=a, states=np.ones((4, 2), np.float32), rewards=np.array([0, 0, 0, 1], np.float32),
               is_terminal=np.array([0, 0, 0, 1], bool), images={"top": np.arange(4 * 2 * 3 * 3, dtype=np.uint8).reshape(4, 2, 3, 3)},
               columns={"eef": np.arange(8, dtype=np.float64).reshape(4, 2)}, task="push the T block",
               embodiment="pusht", fps=10.0, success=True, total_reward=1.0, attrs={"operator": "alice"})
    yield dict(actions=-a[:2], task="ouvrir le tiroir é", embodiment="franka", fps=20.0, success=None,
               total_reward=None)
    yield dict(actions=a[:3] * 2, states=np.zeros((3, 2), np.float32), images={"wrist": np.full((3, 4, 4, 1), 9, np.uint8)},
               task="push the T block", embodiment="pusht", fps=10.0, success=False, total_reward=-0.5,
               attrs={"operator": "bob", "seed": 3})


def write(path):
    eps = list(golden_episodes())
    with kinonb.create(path, overwrite=True, compression=None) as w:
        w.add_episode(**eps[0])
        w.add_episode(**eps[1])
    with kinonb.append(path, compression="lz4") as w:
        w.add_episode(**eps[2])


if __name__ == "__main__":
    write(sys.argv[1])
