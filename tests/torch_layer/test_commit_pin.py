"""Datasets read one commit in every process: the one pinned with ``commit=``, else the first one opened."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

import kinonb  # noqa: E402
from kinonb.torch import KinoDataset, KinoIterDataset  # noqa: E402


def _file(path):
    with kinonb.create(path) as w:
        for i in range(4):
            w.add_episode(np.full((10, 2), i, np.float32), task=f"t{i}")
    with kinonb.append(path) as w:
        w.delete_episodes([0])


def test_pinned_commit_in_workers(tmp_path):
    path = tmp_path / "p.knb"
    _file(path)
    old = KinoDataset(path, windows={"actions": [0]}, commit=-2)
    assert len(old) == 40
    batch = next(iter(DataLoader(old, batch_size=40, num_workers=1)))
    assert sorted(set(batch["actions"][:, 0, 0].tolist())) == [0.0, 1.0, 2.0, 3.0]
    assert len(KinoDataset(path, windows={"actions": [0]})) == 30


def test_workers_read_the_commit_the_parent_opened(tmp_path):
    path = tmp_path / "q.knb"
    _file(path)
    ds = KinoDataset(path, windows={"actions": [0]})
    with kinonb.append(path) as w:  # lands after the dataset opened the file, before any worker does
        w.delete_episodes([0, 1])
    batch = next(iter(DataLoader(ds, batch_size=30, num_workers=1)))
    assert sorted(set(batch["actions"][:, 0, 0].tolist())) == [1.0, 2.0, 3.0]


def test_a_mixture_takes_no_commit(tmp_path):
    a, b = tmp_path / "a.knb", tmp_path / "b.knb"
    _file(a)
    _file(b)
    with pytest.raises(kinonb.InvalidArgumentError):
        KinoIterDataset({str(a): 0.5, str(b): 0.5}, windows={"actions": [0]}, commit=1)
