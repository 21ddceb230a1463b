"""The compiled reading of .kdb image sections (kinonb/kernels/kdb_images.py): the same arrays as the record
parser for every regular episode, kinodb's own files included, and no answer (so the parser reads or names the
problem) for anything irregular."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kinonb
from kinonb.interop.kdb_writer import write_kdb
from kinonb.kernels.kdb_images import image_records

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "kinodb_reference"


def _both(db, i):
    j, e = db._entry(i)
    return db._section._decode_compiled(j, e, None), db._section._decode_parsed(j, e, None)


def _same(fast, slow):
    assert fast is not None and list(fast) == list(slow)
    for k in slow:
        assert fast[k].shape == slow[k].shape and np.array_equal(fast[k], slow[k]), k


@settings(max_examples=25, deadline=None)
@given(frames=st.integers(1, 6), cameras=st.lists(st.sampled_from(["top", "wrist", "a", "é"]), min_size=1,
                                                  max_size=3, unique=True),
       channels=st.sampled_from([1, 3, 4]), seed=st.integers(0, 2**16))
def test_regular_raw_sections_read_as_the_parser_reads_them(tmp_path_factory, frames, cameras, channels, seed):
    rng = np.random.default_rng(seed)
    images = {c: rng.integers(0, 255, (frames, 5 + k, 7, channels), np.uint8) for k, c in enumerate(cameras)}
    path = tmp_path_factory.mktemp("kdbimg") / "a.kdb"
    write_kdb(path, [{"actions": np.zeros((frames, 2), np.float32), "images": images}])
    fast, slow = _both(kinonb.open(path), 0)
    _same(fast, slow)
    assert all(np.array_equal(fast[c], images[c]) for c in cameras)


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="needs ../shared/datasets/kinodb_reference")
@pytest.mark.parametrize("name", ["create_test_images_raw.kdb", "create_test_images_jpeg.kdb"])
def test_kinodb_written_files_read_as_the_parser_reads_them(name):
    pytest.importorskip("PIL")
    db = kinonb.open(REFERENCE / name)
    for i in range(len(db)):
        _same(*_both(db, i))


def test_an_irregular_section_gets_no_compiled_answer(tmp_path):
    path = tmp_path / "b.kdb"
    write_kdb(path, [{"actions": np.zeros((3, 2), np.float32),
                      "images": {"top": np.zeros((3, 4, 4, 3), np.uint8)}}])
    db = kinonb.open(path)
    _, e = db._entry(0)
    buf, pos, end = db._section._bytes, int(e["images_offset"]), int(e["images_offset"]) + int(e["images_length"])
    rows = np.zeros((8, 9), np.int64)
    assert image_records(buf, pos, end, 3, rows) == 3
    assert image_records(buf, pos, end - 1, 3, rows) == -1  # a payload past the end
    assert image_records(buf, pos, end, 2, rows) == -1  # bytes left after the frames
    assert image_records(buf, pos, end, 4, rows) == -1  # a frame missing
    assert image_records.py_func(buf, pos, end, 3, rows) == 3


@settings(max_examples=200, deadline=None)
@given(data=st.binary(min_size=0, max_size=300), lo=st.integers(0, 300), span=st.integers(0, 300),
       frames=st.integers(0, 6))
def test_any_bytes_parse_or_are_refused_within_the_section(data, lo, span, frames):
    """Hostile sections: the compiled parser agrees with its Python body and reads nothing past ``end``."""
    buf = np.frombuffer(data + bytes(8), np.uint8)  # 8 guard bytes that a read past `end` would reach
    pos, end = min(lo, len(data)), min(lo + span, len(data))
    rows = np.zeros((8, 9), np.int64)
    n = image_records(buf, pos, end, frames, rows)
    assert n == image_records.py_func(buf, pos, end, frames, np.zeros((8, 9), np.int64))
    for r in rows[: max(0, min(n, 8))]:
        assert pos <= r[1] and r[1] + r[2] <= end and r[7] + r[8] <= end  # names and payloads inside the section
