"""One negative test per reader check: each raises its own FormatError subclass naming file and offset."""

import os

import numpy as np
import pytest

import kinonb
from kinonb.format import layout as L
from kinonb.store.recovery import find_last_commit
from kinonb.testing import forge_commit


def make(path, n=3, t=4, images=False, compression=None):
    with kinonb.create(path, compression=compression) as w:
        for i in range(n):
            kw = {"images": {"top": np.full((t, 2, 2, 3), i, np.uint8)}} if images else {}
            w.add_episode(actions=np.full((t, 2), i, np.float32), states=np.zeros((t, 1)), **kw)
    return path


def patch(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def last_commit(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        return find_last_commit(fd, path)[0]
    finally:
        os.close(fd)


def test_error_hierarchy():
    for cls in (kinonb.BadMagicError, kinonb.UnsupportedVersionError, kinonb.TruncatedFileError, kinonb.ChecksumError,
                kinonb.OffsetError, kinonb.OverlapError, kinonb.CorruptFieldError, kinonb.NoCommitError):
        assert issubclass(cls, kinonb.FormatError) and issubclass(cls, ValueError)


def test_bad_magic(tmp_path):
    p = make(tmp_path / "d.knb")
    patch(p, 0, b"NOTAKNB!")
    with pytest.raises(kinonb.BadMagicError, match=r"d.knb: at byte 0: expected a .knb"):
        kinonb.open(p)


def test_empty_and_tiny_files(tmp_path):
    p = tmp_path / "empty.knb"
    p.write_bytes(b"")
    with pytest.raises(kinonb.TruncatedFileError):
        kinonb.open(p)
    p.write_bytes(b"abc")
    with pytest.raises(kinonb.BadMagicError):
        kinonb.open(p)
    p.write_bytes(L.HEADER_MAGIC + b"\0" * 10)
    with pytest.raises(kinonb.TruncatedFileError, match="file seems not fully written"):
        kinonb.open(p)


def _set_version(p, major, minor):
    raw = bytearray(open(p, "rb").read(64))
    raw[8:10] = major.to_bytes(2, "little")
    raw[10:12] = minor.to_bytes(2, "little")
    raw[60:64] = L.crc32(bytes(raw[:60])).to_bytes(4, "little")
    patch(p, 0, bytes(raw))


def test_newer_major_rejected(tmp_path):
    p = make(tmp_path / "d.knb")
    _set_version(p, 2, 0)
    with pytest.raises(kinonb.UnsupportedVersionError, match="newer kinonb"):
        kinonb.open(p)


def test_newer_minor_read(tmp_path):
    p = make(tmp_path / "d.knb")
    _set_version(p, 1, 7)
    db = kinonb.open(p)
    assert db.version() == "1.7" and db.num_episodes() == 3


def test_header_checksum(tmp_path):
    p = make(tmp_path / "d.knb")
    patch(p, 20, b"\x01")
    with pytest.raises(kinonb.ChecksumError, match="header CRC-32"):
        kinonb.open(p)


def test_footer_section_checksum(tmp_path):
    p = make(tmp_path / "d.knb")
    c = last_commit(p)
    db = kinonb.open(p)
    at = db._footer.section_offsets["string_heap"]
    patch(p, at, b"X")
    with pytest.raises(kinonb.ChecksumError, match=f"at byte {at}: expected section string_heap CRC-32"):
        kinonb.open(p)
    del c


def test_chunk_checksum_on_first_use(tmp_path):
    p = make(tmp_path / "d.knb")
    db = kinonb.open(p)
    at = db._footer.section_offsets["episodes"] + L.EPISODE.fields["fps"][1]
    patch(p, at, b"\x01")
    db = kinonb.open(p)  # open does not read the index...
    with pytest.raises(kinonb.ChecksumError, match="index chunk 0"):
        db.read_meta(0)  # ...its first use checks it


@pytest.mark.parametrize(
    "field,value,error,message",
    [
        ("offset", 10**15, kinonb.OffsetError, "64-aligned, in"),
        ("offset", 65, kinonb.OffsetError, "64-aligned"),
        ("nbytes", 2**64 - 8, kinonb.OffsetError, "ending at or before the footer"),
        ("nbytes", 8, kinonb.CorruptFieldError, "num_frames x frame_nbytes"),
        ("flags", 6, kinonb.CorruptFieldError, "only bit 0"),
    ],
)
def test_forged_block_fields(tmp_path, field, value, error, message):
    p = make(tmp_path / "d.knb")

    def mutate(f):
        f.blocks[1, 0][field] = value

    forge_commit(p, mutate)
    db = kinonb.open(p)
    with pytest.raises(error, match=message):
        db.read_episode(1)


def test_overlapping_blocks(tmp_path):
    p = make(tmp_path / "d.knb")

    def mutate(f):
        f.blocks[1, 0]["offset"] = f.blocks[0, 0]["offset"]

    forge_commit(p, mutate)
    with pytest.raises(kinonb.OverlapError, match="previous block's end"):
        kinonb.open(p).read_meta(2)


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("num_frames", 0, "num_frames in 1.."),
        ("num_frames", 2**63, "num_frames in 1.."),
        ("success", 3, "success 0 .unknown."),
        ("task_id", 99, "task_id < num_strings"),
        ("attrs_length", 2**31, "attrs within"),
        ("fps", float("nan"), "fps finite"),
        ("frame_start", 5, "frame_start equal"),
    ],
)
def test_forged_episode_fields(tmp_path, field, value, message):
    p = make(tmp_path / "d.knb")

    def mutate(f):
        f.episodes[0][field] = value

    forge_commit(p, mutate)
    with pytest.raises(kinonb.CorruptFieldError, match=message):
        kinonb.open(p).read_episode(0)


def test_lz4_frame_table_checked(tmp_path):
    p = make(tmp_path / "d.knb", images=True, compression="lz4")
    db = kinonb.open(p)
    top = db.column_names().index("top")
    off = int(db._index.blocks[0, top]["offset"])
    patch(p, off + 8, (2**40).to_bytes(8, "little"))
    db = kinonb.open(p)
    with pytest.raises(kinonb.CorruptFieldError, match="lz4 frame table"):
        db.read_episode(0)
    assert db.read_episode_actions_only(0)["actions"].shape == (4, 2)


def test_no_commit(tmp_path):
    p = make(tmp_path / "d.knb")
    c = last_commit(p)
    with open(p, "r+b") as f:
        f.truncate(c.footer_offset)  # the first commit is gone too: keep only the header + blocks
    raw = open(p, "rb").read()
    p.write_bytes(raw[:64] + b"\0" * 500)
    with pytest.raises(kinonb.NoCommitError, match="at least one intact commit"):
        kinonb.open(p)


def test_errors_pickle(tmp_path):
    import pickle

    e = kinonb.OffsetError("f.knb", 64, "x", "y")
    e2 = pickle.loads(pickle.dumps(e))
    assert type(e2) is kinonb.OffsetError and str(e2) == str(e)
