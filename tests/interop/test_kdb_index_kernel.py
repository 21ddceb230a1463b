"""The compiled .kdb index check (kinonb/kernels/kdb_index.py): it accepts exactly what the numpy checks accept
in kinodb's file order, and any other order or any bad entry goes to the numpy checks, which name the field."""

from __future__ import annotations

import numpy as np
import pytest

import kinonb
from kinonb.errors import CorruptFieldError, OffsetError
from kinonb.interop import kdb_layout as L
from kinonb.interop.kdb_writer import write_kdb
from kinonb.kernels.kdb_index import kdb_index_ok


def _episodes(n=5):
    rng = np.random.default_rng(0)
    return [{"actions": rng.standard_normal((3 + i, 2)).astype(np.float32),
             "states": rng.standard_normal((3 + i, 4)).astype(np.float32), "meta": {"task": f"t{i}"}} for i in range(n)]


def _index_words(path):
    raw = bytearray(path.read_bytes())
    h = np.frombuffer(raw, L.HEADER_DTYPE, count=1)[0]
    return raw, int(h["index_offset"]), int(h["num_episodes"])


def test_the_kernel_and_its_python_body_agree_on_kinodb_order(tmp_path):
    path = tmp_path / "a.kdb"
    write_kdb(path, _episodes())
    raw, at, n = _index_words(path)
    words = np.frombuffer(bytes(raw), "<u8", count=8 * n, offset=at).reshape(-1, 8)
    assert kdb_index_ok(words, L.HEADER_SIZE, at) == (True, sum(3 + i for i in range(5)))
    assert kdb_index_ok.py_func(words, L.HEADER_SIZE, at) == (True, sum(3 + i for i in range(5)))


def test_an_index_out_of_file_order_still_opens(tmp_path):
    path = tmp_path / "b.kdb"
    episodes = _episodes()
    write_kdb(path, episodes)
    raw, at, n = _index_words(path)
    e = L.INDEX_ENTRY_SIZE
    raw[at : at + 2 * e] = raw[at + e : at + 2 * e] + raw[at : at + e]  # entries 0 and 1 swapped
    path.write_bytes(bytes(raw))
    words = np.frombuffer(bytes(raw), "<u8", count=8 * n, offset=at).reshape(-1, 8)
    assert not kdb_index_ok(words, L.HEADER_SIZE, at)[0]  # the numpy checks decide
    db = kinonb.open(path)
    assert np.array_equal(db.read_episode(0)["actions"], episodes[1]["actions"])
    assert db.read_meta(1)["task"] == "t0"


@pytest.mark.parametrize("field, value, error, match", [
    ("actions_length", 7, CorruptFieldError, "actions_length"),
    ("meta_offset", 1 << 40, OffsetError, "meta section within bytes"),
    ("images_length", 1, CorruptFieldError, "images_length"),
])
def test_a_bad_entry_is_named_by_the_numpy_checks(tmp_path, field, value, error, match):
    path = tmp_path / "c.kdb"
    write_kdb(path, _episodes())
    raw, at, _ = _index_words(path)
    entry = np.frombuffer(raw, L.INDEX_ENTRY_DTYPE, count=1, offset=at + 2 * L.INDEX_ENTRY_SIZE)
    entry[field] = value
    path.write_bytes(bytes(raw))
    with pytest.raises(error, match=match):
        kinonb.open(path)


def test_the_compiled_pass_waits_until_it_pays_off(tmp_path, monkeypatch):
    """A process checks a .kdb index with numpy (no one-time load of the compiled pass, ~0.3 s) until the pass is
    loaded, the index is huge, or it is the second large index; both paths give the same reader."""
    from kinonb.interop import kdb_reader

    path = tmp_path / "d.kdb"
    write_kdb(path, _episodes())
    calls = []

    class Spy:
        signatures: list = []

        def __call__(self, *args):
            calls.append(len(args[0]))
            return kdb_index_ok(*args)

    monkeypatch.setattr(kdb_reader, "kdb_index_ok", Spy())
    monkeypatch.setattr(kdb_reader, "_large_opens", 0)
    numpy_checked = kinonb.open(path)
    assert calls == []
    monkeypatch.setattr(kdb_reader, "COMPILED_INDEX_FROM", 5)
    kinonb.open(path)
    assert calls == []  # the first large index: numpy still
    compiled_checked = kinonb.open(path)
    assert calls == [5]
    for i in range(5):
        assert np.array_equal(numpy_checked.read_episode(i)["states"], compiled_checked.read_episode(i)["states"])
        assert numpy_checked.read_meta(i) == compiled_checked.read_meta(i)
    monkeypatch.setattr(kdb_reader, "COMPILED_INDEX_FROM", 1 << 40)
    monkeypatch.setattr(kdb_reader, "_large_opens", 0)
    monkeypatch.setattr(kdb_reader, "COMPILED_INDEX_ALWAYS", 5)
    kinonb.open(path)
    assert calls == [5, 5]
    monkeypatch.setattr(kdb_reader, "COMPILED_INDEX_ALWAYS", 1 << 40)
    Spy.signatures = ["loaded"]
    kinonb.open(path)
    assert calls == [5, 5, 5]


@pytest.mark.parametrize("chunk", [1, 2, 3, 4096])
def test_the_numpy_checks_see_across_chunks(tmp_path, monkeypatch, chunk):
    """The numpy checks run a chunk of entries at a time: an overlap between two chunks, a bad entry in the last
    chunk and an out-of-order index are found at every chunk size, with the same episode and byte offset."""
    from kinonb.errors import OverlapError
    from kinonb.interop import kdb_index_check, kdb_reader

    monkeypatch.setattr(kdb_index_check, "CHUNK", chunk)
    monkeypatch.setattr(kdb_reader, "_use_compiled_index_pass", lambda n: False)
    episodes = _episodes(7)
    path = tmp_path / "e.kdb"
    write_kdb(path, episodes)
    db = kinonb.open(path)
    assert db.num_frames() == sum(3 + i for i in range(7))
    raw, at, n = _index_words(path)
    e = L.INDEX_ENTRY_SIZE

    def entries(buf):
        return np.frombuffer(buf, L.INDEX_ENTRY_DTYPE, count=n, offset=at)

    swapped = bytearray(raw)
    swapped[at + 2 * e : at + 4 * e] = raw[at + 3 * e : at + 4 * e] + raw[at + 2 * e : at + 3 * e]
    path.write_bytes(bytes(swapped))
    assert kinonb.open(path).read_meta(2)["task"] == "t3"  # out of order, no overlap: opens

    clash = bytearray(raw)
    entries(clash)[4]["meta_offset"] = int(entries(raw)[3]["images_offset"])  # inside episode 3's images
    path.write_bytes(bytes(clash))
    with pytest.raises(OverlapError, match="episode [34]'s section.*inside episode [34]'s") as err:
        kinonb.open(path)
    assert err.value.offset == int(entries(raw)[3]["images_offset"])

    bad = bytearray(raw)
    entries(bad)[6]["actions_length"] = 7
    path.write_bytes(bytes(bad))
    with pytest.raises(CorruptFieldError, match="episode 6") as err:
        kinonb.open(path)
    assert err.value.offset == at + 6 * e + L.INDEX_ENTRY_DTYPE.fields["actions_length"][1]
