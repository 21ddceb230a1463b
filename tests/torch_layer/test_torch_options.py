"""The torch layer's sample options: dtype, index options passed through, batches of mixed widths collating."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import kinonb  # noqa: E402
from kinonb.errors import InvalidArgumentError  # noqa: E402
from kinonb.sampling.index import SampleIndex  # noqa: E402
from kinonb.testing.fake_source import FakeSource  # noqa: E402
from kinonb.torch import (  # noqa: E402
    KinoIterDataset,
    KinoMapDataset,
    convert,  # noqa: E402
    pad_collate,
)
from kinonb.torch.collate import Rows  # noqa: E402
from kinonb.torch.options import SampleOptions  # noqa: E402


@pytest.fixture
def knb(tmp_path):
    path = tmp_path / "d.knb"
    rng = np.random.default_rng(0)
    with kinonb.create(path) as w:
        for t in (5, 7):
            w.add_episode(actions=rng.standard_normal((t, 3)).astype(np.float32),
                          columns={"q": rng.standard_normal((t, 2)), "n": np.arange(t, dtype=np.int16)})
    return path


def test_dtype_float32_by_default_float64_or_as_stored_on_request(knb):
    windows = {"actions": range(2), "q": [0], "n": [0]}
    b = KinoMapDataset(knb, windows=windows).__getitems__([0, 1]).batch
    assert b["actions"].dtype == b["q"].dtype == torch.float32 and b["n"].dtype == torch.int16
    b = KinoMapDataset(knb, windows=windows, dtype=torch.float64).__getitems__([0, 1]).batch
    assert b["actions"].dtype == b["q"].dtype == torch.float64
    b = KinoMapDataset(knb, windows=windows, dtype=None).__getitems__([0, 1]).batch
    assert b["actions"].dtype == torch.float32 and b["q"].dtype == torch.float64
    ep = KinoMapDataset(knb, dtype=torch.float64)[0]
    assert ep["action"].dtype == torch.float64
    b = next(iter(KinoIterDataset(knb, windows=windows, batch_size=4, dtype=torch.float16)))
    assert b["q"].dtype == torch.float16
    with pytest.raises(InvalidArgumentError, match="dtype"):
        KinoMapDataset(knb, windows=windows, dtype=torch.int32)


def test_index_options_reach_sample_index(knb):
    ds = KinoMapDataset(knb, windows={"actions": range(2)}, pad_dims={"actions": 5})
    b = ds.__getitems__([0, 6]).batch
    assert b["actions"].shape == (2, 2, 5) and b["actions_dim_mask"].sum(1).tolist() == [3, 3]
    assert ds.source.dims() == {"actions": 5}
    with pytest.raises(InvalidArgumentError, match="missing"):
        KinoMapDataset(knb, windows={"actions": [0]}, missing="nope")
    with pytest.raises(InvalidArgumentError, match="apply to windows"):
        KinoMapDataset(knb, pad_dims={"actions": 5})
    assert SampleOptions().index_kwargs() == {}
    assert SampleOptions(pad_dims=False, rate=10).index_kwargs() == {"pad_dims": False, "rate": 10}


def _mixed_batches():
    rng = np.random.default_rng(1)
    src = FakeSource([{"length": 4, "fps": 10.0, "columns": {"actions": rng.standard_normal((4, 2))}},
                      {"length": 4, "fps": 10.0, "columns": {"actions": rng.standard_normal((4, 6))}}])
    index = SampleIndex(src, {"actions": range(2)})
    return index.read([0, 1]), index.read([2, 5])


def test_pad_collate_keeps_each_rows_own_mask():
    narrow, wide = _mixed_batches()  # widths 2 (batch of the narrow episode) and 6
    rows = [convert.row(convert.tensors(narrow), 0), convert.row(convert.tensors(wide), 1)]
    out = pad_collate(rows)
    assert out["actions"].shape == (2, 2, 6) and "actions_dim_mask_dim_mask" not in out
    assert out["actions_dim_mask"].sum(1).tolist() == [2, 6]
    out = pad_collate(rows, dims={"actions": 8})
    assert out["actions"].shape == (2, 2, 8) and out["actions_dim_mask"].sum(1).tolist() == [2, 6]
    assert pad_collate(Rows(convert.tensors(wide), 2))["actions_dim_mask"].sum(1).tolist() == [2, 6]


def test_merge_parts_keeps_a_sources_own_mask():
    narrow, wide = _mixed_batches()
    merged = convert.merge_parts([narrow, wide], [np.array([0, 2]), np.array([1, 3])], {})
    assert merged["actions"].shape == (4, 2, 6)
    assert merged["actions_dim_mask"].sum(1).tolist() == [2, 2, 2, 6]
    assert (merged["actions"][0, :, 2:] == 0).all()


def test_stack_arrays_pads_a_differing_last_axis():
    out = convert.stack_arrays("qpos", [np.ones(2), np.ones(3)])
    assert out["qpos"].shape == (2, 3) and out["qpos_dim_mask"].tolist() == [[True, True, False], [True] * 3]
    with pytest.raises(InvalidArgumentError, match="only the last axis"):
        convert.stack_arrays("qpos", [np.ones((2, 2)), np.ones((3, 2))])
