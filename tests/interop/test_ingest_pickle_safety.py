"""The restricted unpickler: numpy arrays and containers load under every protocol; any other global is refused
before it is called; a forged array size is refused before it is allocated."""

import collections
import io
import os
import pickle
import pickletools

import numpy as np
import pytest

from kinonb.errors import SourceLayoutError
from kinonb.interop.ingest.pickle_episodes import episodes_of, safe_load
from kinonb.testing import assert_same as same


def episodes():
    rng = np.random.default_rng(0)
    return [{"observations": rng.normal(size=(4, 3)), "actions": rng.normal(size=(4, 2)).astype(np.float32),
             "rewards": rng.normal(size=4), "fortran": np.asfortranarray(rng.normal(size=(3, 2))),
             "init_state_dict": collections.OrderedDict(qpos=np.arange(5), ids={1, 2}, raw=b"\x00\xff"),
             "scalar": np.float64(1.5), "flag": np.bool_(True), "name": "door"}]


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_arrays_and_containers_load(tmp_path, protocol):
    want = episodes()
    (tmp_path / "e.pkl").write_bytes(pickle.dumps(want, protocol=protocol))
    got = safe_load(tmp_path / "e.pkl")
    for k in ("observations", "actions", "rewards", "fortran"):
        same(got[0][k], want[0][k])
    init = got[0]["init_state_dict"]
    same(init["qpos"], np.arange(5))
    assert init["ids"] == {1, 2} and init["raw"] == b"\x00\xff" and got[0]["scalar"] == 1.5
    assert got[0]["name"] == "door" and bool(got[0]["flag"])


class RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_os_system_is_refused_before_it_runs(tmp_path, protocol):
    marker = tmp_path / "pwned"
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps([{"actions": np.ones(2), "x": RunsCode(marker)}],
                                                     protocol=protocol))
    with pytest.raises(SourceLayoutError, match=r"reference to (posix|nt|os)\.system.*can run code"):
        safe_load(tmp_path / "evil.pkl")
    assert not marker.exists()


@pytest.mark.parametrize("module,name", [("builtins", "eval"), ("subprocess", "Popen"), ("numpy", "load"),
                                         ("numpy.core.multiarray", "frombuffer"), ("copyreg", "_reconstructor")])
def test_other_globals_are_refused(tmp_path, module, name):
    (tmp_path / "g.pkl").write_bytes(b"c" + f"{module}\n{name}\n".encode() + b"(tR.")
    with pytest.raises(SourceLayoutError, match=f"{module}.{name}"):
        safe_load(tmp_path / "g.pkl")


def test_ndarray_itself_cannot_allocate(tmp_path):
    """numpy.ndarray is admitted only as _reconstruct's argument: calling it from a pickle fails."""
    (tmp_path / "n.pkl").write_bytes(b"cnumpy\nndarray\n(I1000000000000\ntR.")
    with pytest.raises(SourceLayoutError, match="readable pickle"):
        safe_load(tmp_path / "n.pkl")


def test_forged_reconstruct_size_is_refused(tmp_path):
    data = pickle.dumps(np.zeros(3), protocol=2)
    forged = data.replace(b"K\x00\x85", b"J\x00\x00\x00\x7f\x85")  # _reconstruct(ndarray, (0,), ...) -> (2**31-...)
    assert forged != data
    pickletools.dis(forged, out=io.StringIO())  # still a valid pickle
    (tmp_path / "big.pkl").write_bytes(forged)
    with pytest.raises(SourceLayoutError, match="at most .* bytes"):
        safe_load(tmp_path / "big.pkl")


def test_truncated_and_wrong_shapes(tmp_path):
    (tmp_path / "t.pkl").write_bytes(pickle.dumps(episodes(), protocol=4)[:50])
    with pytest.raises(SourceLayoutError, match="readable pickle"):
        safe_load(tmp_path / "t.pkl")
    assert [label for label, _ in episodes_of({"a": {"x": 1}, "b": {"x": 2}}, "s")] == ["episode 'a'", "episode 'b'"]
    assert len(episodes_of({"actions": np.ones(2)}, "s")) == 1
    for bad in ([], [1], 3):
        with pytest.raises(SourceLayoutError):
            episodes_of(bad, "s")
