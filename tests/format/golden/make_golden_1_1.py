"""Writes the golden v1.1 file. Run once; never regenerate it (tests/format/test_golden_1_1.py reads it forever).

    python tests/format/golden/make_golden_1_1.py tests/format/golden/v1_1.knb

Every 1.1 feature in four small episodes over two commits (after create's empty one): float16 actions whose width changes, float64
states with a final observation (T + 1 rows), rewards cast to float16 by ``dtypes=``, an episode without
actions, int64-ns timestamps, two streams (float64 and int64 times, one with 0 samples), episode arrays of
shapes (), (3,) and (2, 2), an extra column of T + 1 rows and changing width, raw and lz4 cameras whose
resolution changes.
"""

import sys

import numpy as np

import kinonb

REQUEST = {"rewards": "float16"}


def golden_episodes():
    a = (np.arange(8, dtype=np.float16).reshape(4, 2) - 2.5) / 4
    yield dict(actions=a, states=np.linspace(-1, 1, 10).reshape(5, 2), rewards=np.array([0.1, 0, 0, 1], np.float32),
               timestamps=np.array([0, 33_000_000, 66_000_000, 100_000_000], np.int64),
               streams={"imu": (np.array([0.0, 0.01, 0.02, 0.05, 0.09]), np.arange(15, dtype=np.float32).reshape(5, 3)),
                        "force": (np.zeros(0, np.int64), np.zeros((0, 2), np.int16))},
               episode_arrays={"init_qpos": np.array([0.5, -0.25, np.nan]), "seed": np.int64(7)},
               images={"top": np.arange(4 * 2 * 3 * 3, dtype=np.uint8).reshape(4, 2, 3, 3)},
               columns={"eef": np.arange(10, dtype=np.float64).reshape(5, 2)}, task="stack cups", embodiment="aloha",
               fps=30.0, success=True, total_reward=1.0, attrs={"operator": "ada"})
    yield dict(states=np.ones((3, 4)), rewards=np.float32([np.inf, -0.0, 3.14159]), task="observe", fps=10.0,
               streams={"force": (np.array([5, 5, 9], np.int64), np.array([[1, 2], [3, 4], [-5, 6]], np.int16))},
               episode_arrays={"calib": np.eye(2, dtype=np.float32)})
    yield dict(actions=np.float16([[1, 2, 3], [4, 5, 6]]), timestamps=np.array([10, 20], np.int64),
               images={"top": np.full((2, 3, 1, 1), 200, np.uint8), "wrist": np.full((2, 4, 4, 1), 9, np.uint8)},
               columns={"eef": np.full((2, 3), -1.0)}, embodiment="aloha", success=False,
               episode_arrays={"init_qpos": np.array([1.0, 2.0, 3.0])})
    yield dict(actions=np.float16([[0.5]]), states=np.zeros((2, 1)), images={"wrist": np.full((1, 2, 3, 4), 1, np.uint8)},
               streams={"imu": (np.array([0.5]), np.array([[1, 2, 3]], np.float32))}, attrs={"seed": 3})


def write(path):
    eps = list(golden_episodes())
    with kinonb.create(path, overwrite=True, compression=None, dtypes=REQUEST) as w:
        w.add_episode(**eps[0])
        w.add_episode(**eps[1])
    with kinonb.append(path, compression="lz4", dtypes=REQUEST) as w:
        w.add_episode(**eps[2])
        w.add_episode(**eps[3])


if __name__ == "__main__":
    write(sys.argv[1])
