"""Format 1.1 files end to end: written with the writer, read through sample_index and the torch layer."""

from __future__ import annotations

import numpy as np
import pytest

import kinonb


@pytest.fixture
def mixed(tmp_path):
    """Two embodiments (action widths 7 and 14, float64), T+1 states, frame timestamps, a 100 Hz stream, and an
    observation-only episode without actions."""
    rng = np.random.default_rng(0)
    path = tmp_path / "mixed.knb"
    with kinonb.create(path) as w:
        w.add_episode(actions=rng.random((20, 7)), states=rng.random((21, 9)), fps=10.0,
                      timestamps=np.arange(20) / 10, streams={"imu": (np.arange(200) / 100, rng.random((200, 6)))},
                      episode_arrays={"init_qpos": rng.random(7)})
        w.add_episode(actions=rng.random((15, 14)), states=rng.random((16, 9)), fps=10.0,
                      timestamps=np.arange(15) / 10 + 0.05,
                      streams={"imu": (np.arange(150) / 100 + 0.003, rng.random((150, 6)))},
                      episode_arrays={"init_qpos": rng.random(14)})
        w.add_episode(states=rng.random((5, 9)), fps=10.0)
    return kinonb.open(path)


def _latest_at(times, t):
    return int(np.searchsorted(times, t, side="right")) - 1


def test_mixed_widths_pad_to_the_widest_with_a_dim_mask(mixed):
    index = mixed.sample_index({"actions": range(4)}, episodes=[0, 1])
    batch = index.read(np.arange(len(index)))
    assert batch["actions"].shape == (35, 4, 14) and batch["actions"].dtype == np.float64
    for b in range(len(index)):
        p, t = index.locate(b)
        a = mixed.read_episode(p)["actions"]
        width = a.shape[1]
        assert batch["actions_dim_mask"][b].tolist() == [True] * width + [False] * (14 - width)
        rows = np.clip(np.arange(t, t + 4), 0, len(a) - 1)
        np.testing.assert_array_equal(batch["actions"][b, :, :width], a[rows])
        assert not batch["actions"][b, :, width:].any()
    fixed = mixed.sample_index({"actions": [0]}, episodes=[0, 1], pad_dims={"actions": 16}).read([0])
    assert fixed["actions"].shape == (1, 1, 16)
    with pytest.raises(kinonb.InvalidArgumentError, match="7.*14|14.*7"):
        mixed.sample_index({"actions": [0]}, episodes=[0, 1], pad_dims=False).read([0, 30])


def test_windows_reach_the_final_observation(mixed):
    index = mixed.sample_index({"actions": [0], "states": [0, 1]}, episodes=[0])
    batch = index.read([19])  # the last frame: states t + 1 is the final observation (row 20 of 21)
    np.testing.assert_array_equal(batch["states"][0, 1], mixed.read_episode(0)["states"][20])
    assert batch["states_is_pad"][0].tolist() == [False, False]


def test_a_stream_window_is_latest_at_the_sample_time(mixed):
    index = mixed.sample_index({"actions": [0], "imu": range(-3, 1)}, episodes=[0, 1])
    batch = index.read(np.arange(len(index)))
    for b in range(len(index)):
        p, t = index.locate(b)
        ep = mixed.read_episode(p)
        imu_t, imu = ep["streams"]["imu"]
        anchor = _latest_at(imu_t, ep["timestamps"][t])
        for w, off in enumerate(range(-3, 1)):
            f = anchor + off
            assert batch["imu_is_pad"][b, w] == (not 0 <= f < len(imu))
            np.testing.assert_array_equal(batch["imu"][b, w], imu[min(max(f, 0), len(imu) - 1)])


def test_a_fixed_rate_grid_and_missing_keys(mixed):
    grid = mixed.sample_index({"imu": [0]}, rate=5.0, episodes=[0, 1])
    times = grid.read(np.arange(len(grid)))["time"]
    assert len(grid) == 10 + 8 and np.allclose(times[:3], [0.0, 0.2, 0.4])
    with pytest.raises(kinonb.InvalidArgumentError, match="absent from episode 2"):
        mixed.sample_index({"actions": [0]})
    skipped = mixed.sample_index({"actions": [0]}, missing="skip")
    assert list(skipped.skipped_episodes) == [2] and len(skipped) == 35
    assert mixed.query("action_dim = 0") == [2] and mixed.query("action_dim = 14") == [1]


def test_the_torch_layer_collates_mixed_widths(mixed):
    torch = pytest.importorskip("torch")
    from kinonb.torch import KinoDataset, pad_collate

    ds = KinoDataset(mixed.path(), windows={"actions": range(2)}, missing="skip", episode_arrays=["init_qpos"])
    loader = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=False, collate_fn=pad_collate)
    batch = next(iter(loader))
    assert batch["actions"].dtype == torch.float32 and batch["actions"].shape[-1] in (7, 14)
    assert "actions_dim_mask" in batch and "init_qpos" in batch
