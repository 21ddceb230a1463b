"""`kinonb mix --sample` previews training: ops.mixture.sample_mixture draws, pair by pair, what
kinonb.torch.from_mixture yields (whole episodes, one process)."""

import numpy as np
import pytest

pytest.importorskip("torch")

import kinonb  # noqa: E402
from kinonb.example import synthetic_episode  # noqa: E402
from kinonb.ops.mixture import mixture, sample_mixture  # noqa: E402
from kinonb.torch import from_mixture  # noqa: E402


def write(path, n, seed):
    rng = np.random.default_rng(seed)
    with kinonb.create(path) as w:
        for i in range(n):
            w.add_episode(**synthetic_episode(rng, i, images=False))  # default ids: id == position
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("preview")
    return write(d / "a.knb", 7, seed=1), write(d / "b.knb", 12, seed=2)


def trained(paths, weights, n, seed, **kwargs):
    """(source index, episode id) of each sample ``from_mixture`` yields, in order."""
    epoch = kwargs.pop("epoch", 0)
    ds = from_mixture(dict(zip(paths, weights)), seed=seed, num_samples=n, to_tensor=False, **kwargs)
    ds.set_epoch(epoch)
    index = {p: k for k, p in enumerate(paths)}
    return np.array([(index[s["source"]], s["episode_id"]) for s in ds], np.int64).reshape(-1, 2)


@pytest.mark.parametrize("weights, seed, n", [((1.0, 1.0), 0, 40), ((2.0, 6.0), 7, 100), ((0.3, 0.0), 123, 25),
                                              ((5, 1), 42, 1)])
def test_sample_mixture_is_what_from_mixture_yields(files, weights, seed, n):
    plan = mixture(list(zip(files, weights)))
    pairs, counts = sample_mixture(plan, n, seed)
    want = trained(files, weights, n, seed)
    assert pairs.dtype == np.int64 and pairs.shape == (n, 2)
    assert np.array_equal(pairs, want)
    assert counts.tolist() == np.bincount(want[:, 0], minlength=2).tolist()


@pytest.mark.parametrize("epoch", [0, 3])
def test_sample_mixture_follows_epoch_and_replacement(files, epoch):
    plan = mixture([(files[0], 1.0), (files[1], 2.0)])
    pairs, _ = sample_mixture(plan, 15, 5, epoch=epoch, replacement=False)
    assert np.array_equal(pairs, trained(files, (1.0, 2.0), 15, 5, epoch=epoch, replacement=False))
    assert len({tuple(p) for p in pairs.tolist()}) == 15  # without replacement no episode comes twice


def test_empty_sample(files):
    pairs, counts = sample_mixture(mixture([(files[0], 1.0), (files[1], 1.0)]), 0, 0)
    assert pairs.shape == (0, 2) and pairs.dtype == np.int64 and counts.tolist() == [0, 0]
