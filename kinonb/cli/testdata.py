"""The synthetic episodes of ``kinonb create-test``: the same values as kinodb's ``kino create-test`` writes.

(``kinonb.example.synthetic_episode`` is a different generator: random lengths, sine-wave states, one 32x32
camera; the tests compare these episodes against kinodb's files, so the two are kept apart.)
"""

from __future__ import annotations

import numpy as np

TEST_EMBODIMENTS = ["widowx", "franka", "aloha", "ur5"]
TEST_TASKS = ["pick up the red block", "open the drawer", "place the cup on the plate", "push the green button",
              "stack the blue cube on the yellow cube", "close the laptop lid"]


def create_test_episode(i: int, frames: int, images: bool = False, rng: np.random.Generator | None = None) -> dict:
    """Episode ``i`` of ``kinonb create-test``: the same values as kinodb's ``kino create-test`` writes.

    state = [0.3 p, 0.1 p, 0.5 + 0.2 p, 0, 0, 0.1 p] with p = t / T in float32; constant action deltas with the
    gripper at 1.0 on the last two frames; reward 1.0 on the last frame of a successful episode (i % 3 != 0);
    images ``front`` and ``wrist`` 64x64 gradients R = x/64, G = y/64, B = t/T (times 255, truncated).
    With ``rng``, N(0, 0.01) noise is added to states and actions (the values then differ from kinodb's).
    """
    f32 = np.float32
    T = frames
    p = np.arange(T, dtype=f32) / f32(T)
    states = np.zeros((T, 6), f32)
    states[:, 0], states[:, 1], states[:, 2], states[:, 5] = p * f32(0.3), p * f32(0.1), f32(0.5) + p * f32(0.2), \
        p * f32(0.1)
    actions = np.tile(np.array([0.01, 0.005, 0.01, 0, 0, 0.005, 0], f32), (T, 1))
    actions[-2:, 6] = 1.0
    if rng is not None:
        states += rng.normal(0, 0.01, states.shape).astype(f32)
        actions += rng.normal(0, 0.01, actions.shape).astype(f32)
    success = i % 3 != 0
    rewards = np.zeros(T, f32)
    rewards[-1] = 1.0 if success else 0.0
    ep = dict(actions=actions, states=states, rewards=rewards, is_terminal=np.arange(T) == T - 1,
              embodiment=TEST_EMBODIMENTS[i % 4], task=TEST_TASKS[i % 6], fps=10.0, success=success,
              total_reward=1.0 if success else 0.0)
    if images:
        ramp = (np.arange(64, dtype=f32) / f32(64) * f32(255)).astype(np.uint8)
        img = np.empty((T, 64, 64, 3), np.uint8)
        img[..., 0] = ramp[None, None, :]
        img[..., 1] = ramp[None, :, None]
        img[..., 2] = (np.arange(T, dtype=f32) / f32(T) * f32(255)).astype(np.uint8)[:, None, None]
        ep["images"] = {"front": img, "wrist": img.copy()}
    return ep
