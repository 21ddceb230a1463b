"""Issue 15 part 2: one negative test per class of hostile file the reader used to trust, each file forged
with the test kit (``kinonb.testing.forge_commit``) or made by kinonb's own writer."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import resource
import subprocess
import sys

import numpy as np
import pytest

import kinonb
from kinonb.format import layout as L
from kinonb.format.schema import MAX_ATTRS_DEPTH, RESERVED_NAMES
from kinonb.store import recovery
from kinonb.testing import forge_commit

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _small(path, n=3, **extra):
    with kinonb.create(path, sync=False) as w:
        for i in range(n):
            w.add_episode(np.full((2 + i, 2), i, np.float32), task=f"task {i}", attrs={"k": i},
                          columns={"z": np.zeros((2 + i, 3, 0), np.float32), "xyz": np.ones((2 + i, 2))}, **extra)
    return path


def _retag(path, column, **changes):
    """Forge a commit where ``column`` has ``changes`` (name= adds the new name to the string table)."""
    def mutate(f):
        k = [c.name for c in f.columns].index(column)
        if "name" in changes and changes["name"] not in f.strings:
            f.strings.append(changes["name"])
        f.columns[k] = dataclasses.replace(f.columns[k], **changes)
    forge_commit(path, mutate)


def _cap_3gib():
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def test_tall_lz4_frame_resize_scratch_is_bounded_by_the_output(tmp_path):
    """A valid file with one (2**20, 1, 4) lz4 frame, read at 224x224: used to allocate 3.7 GB of scratch."""
    path = tmp_path / "tall.knb"
    with kinonb.create(path, compression="lz4", sync=False) as w:
        w.add_episode(np.zeros((1, 2), np.float32), images={"cam": np.zeros((1, 2**20, 1, 4), np.uint8)})
    assert path.stat().st_size < 64 << 10
    code = ("import kinonb, numpy as np\n"
            f"db = kinonb.open({str(path)!r})\n"
            "index = db.sample_index({'cam': [0]})\n"
            "for mode in ('bilinear', 'area', 'nearest'):\n"
            "    b = index.read(np.array([0]), image_size=(224, 224), mode=mode)\n"
            "    assert b['cam'].shape == (1, 1, 224, 224, 4)\n")
    proc = subprocess.run([sys.executable, "-c", code], preexec_fn=_cap_3gib, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_zero_width_column_with_huge_dims_is_refused(tmp_path):
    path = _small(tmp_path / "z.knb")
    _retag(path, "z", shape=(2**63, 0))
    with pytest.raises(kinonb.CorruptFieldError, match="every dim at most"):
        kinonb.open(path)
    assert not kinonb.validate(path, deep=True).ok
    with kinonb.create(tmp_path / "w.knb", sync=False) as w:
        with pytest.raises(kinonb.SchemaError, match="every dim at most"):
            w.add_episode(np.zeros((2, 1), np.float32), columns={"z": np.zeros((2, 2**33, 0))})
        with pytest.raises(kinonb.SchemaError, match="product of the non-zero dims"):
            w.add_episode(np.zeros((2, 1), np.float32), columns={"z": np.zeros((2, 2**20, 2**20, 0))})


def _nest(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return {"deep": value}


def test_attrs_depth_is_capped_on_write_and_read(tmp_path):
    with kinonb.create(tmp_path / "w.knb", sync=False) as w:
        w.add_episode(np.zeros((1, 1), np.float32), attrs=_nest(MAX_ATTRS_DEPTH - 1))  # the dict adds a level
        for depth in (MAX_ATTRS_DEPTH, 985, 10**5):
            with pytest.raises(kinonb.SchemaError, match="attrs"):
                w.add_episode(np.zeros((1, 1), np.float32), attrs=_nest(depth))
    assert kinonb.open(tmp_path / "w.knb").read_meta(0)["attrs"] == _nest(MAX_ATTRS_DEPTH - 1)
    path = _small(tmp_path / "r.knb")
    deep = b"[" * 10**5 + b"]" * 10**5

    def mutate(f):
        f.attrs_heap = b'{"s": "[[[["}' + deep
        f.episodes["attrs_offset"], f.episodes["attrs_length"] = 0, len(f.attrs_heap)
        f.episodes[0]["attrs_length"] = 13  # a string full of brackets is not nesting
    forge_commit(path, mutate)
    db = kinonb.open(path)
    assert db.read_meta(0)["attrs"] == {"s": "[[[["}
    with pytest.raises(kinonb.CorruptFieldError, match=f"nested at most {MAX_ATTRS_DEPTH}"):
        db.read_meta(1)
    with pytest.raises(kinonb.FormatError):
        db.query("attrs.k = 1")
    assert "nested at most" in kinonb.validate(path).errors[0]


def test_blocks_overlapping_across_an_index_chunk_boundary(tmp_path):
    """Chunks of one episode; episode 1 has no block, so chunk 2 sees only row 1 before it: episode 2's blocks
    point at episode 0's bytes. Only a whole-file comparison finds it."""
    path = tmp_path / "o.knb"
    with kinonb.create(path, sync=False) as w:
        for i in range(3):
            w.add_episode(np.full((2, 2), i, np.float32))

    def mutate(f):
        f.chunk_episodes = 1
        f.blocks[1] = np.zeros(1, L.BLOCK)
        f.blocks[2] = f.blocks[0]
        f.episodes[2]["num_frames"] = f.episodes[0]["num_frames"]
    forge_commit(path, mutate)
    report = kinonb.validate(path, deep=True)
    assert not report.ok and "every block before it" in report.errors[0]
    assert "BLOCK[2][actions]" in report.errors[0]


@pytest.mark.parametrize("name", sorted(set(RESERVED_NAMES) - {"actions", "states", "rewards", "is_terminal"})
                         + ["top_is_pad", "actions_dim_mask", "imu.timestamps"])
def test_reserved_names_refused_on_write_and_read(tmp_path, name):
    with kinonb.create(tmp_path / "w.knb", sync=False) as w:
        for kind in ("images", "columns"):
            value = np.zeros((1, 2, 2, 3), np.uint8) if kind == "images" else np.zeros((1, 2))
            with pytest.raises(kinonb.SchemaError, match="reserved"):
                w.add_episode(np.zeros((1, 1), np.float32), **{kind: {name: value}})
        w.add_episode(np.zeros((1, 1), np.float32))
    path = _small(tmp_path / "r.knb")
    _retag(path, "xyz", name=name)
    with pytest.raises(kinonb.CorruptFieldError, match=f"does not reserve.*{name}"):
        kinonb.open(path)


def _patch_section(path, section: str, at: int, data: bytes) -> None:
    """Patch bytes of a CRC-covered footer section of the last commit; recompute its CRC and the trailer's."""
    db = kinonb.open(path)
    commit, start = db._commit, db._footer.section_offsets[section]
    i = L.SECTION_NAMES.index(section)
    length = int(np.frombuffer(path.read_bytes(), L.SECTION, 1, commit.footer_offset + 64 + 32 * i)[0]["length"])
    del db
    raw = bytearray(path.read_bytes())
    raw[start + at : start + at + len(data)] = data
    sec_at = commit.footer_offset + L.FOOTER_HEADER.itemsize + L.SECTION.itemsize * i
    raw[sec_at + 24 : sec_at + 28] = L.crc32(bytes(raw[start : start + length])).to_bytes(4, "little")
    t = np.frombuffer(bytes(raw[-L.TRAILER.itemsize:]), L.TRAILER)[0].copy()
    prefix = L.FOOTER_HEADER.itemsize + L.SECTION.itemsize * len(L.SECTION_NAMES)
    t["footer_header_crc32"] = L.crc32(bytes(raw[commit.footer_offset : commit.footer_offset + prefix]))
    t["crc32"] = L.crc32(t.tobytes()[:-4])
    raw[-L.TRAILER.itemsize:] = t.tobytes()
    path.write_bytes(bytes(raw))


def test_nan_and_infinity_attrs_refused_on_read(tmp_path):
    for blob in (b'{"k": NaN}', b'{"k": -Infinity}', b'{"k": 1e400}'):
        path = _small(tmp_path / "a.knb", n=1)

        def mutate(f, blob=blob):
            f.attrs_heap = blob
            f.episodes[0]["attrs_length"] = len(blob)
        forge_commit(path, mutate)
        with pytest.raises(kinonb.CorruptFieldError, match="no NaN or Infinity"):
            kinonb.open(path).read_meta(0)
        path.unlink()


def test_decreasing_string_offsets_refused(tmp_path):
    """u64 offsets 0, 2**63-1, 2**63, 2**64-1, 12: each int64 difference is >= 0 once it wraps."""
    path = _small(tmp_path / "s.knb", n=3)
    strings = kinonb.open(path)._footer.strings
    assert len(strings) >= 4
    heap = sum(len(s.encode()) for s in strings)
    values = [0, 2**63 - 1, 2**63, 2**64 - 1] + [heap] * (len(strings) - 3)
    _patch_section(path, "string_offsets", 0, np.array(values, "<u8").tobytes())
    with pytest.raises(kinonb.CorruptFieldError, match="non-decreasing string offsets"):
        kinonb.open(path)


def test_sparse_torn_tail_is_not_read(tmp_path, monkeypatch):
    path = _small(tmp_path / "sparse.knb")
    size = path.stat().st_size
    hole = 1 << 30
    with open(path, "r+b") as f:
        f.truncate(size + hole)
        f.seek(size + hole)
        f.write(os.urandom(8192))
    with open(path, "rb") as f:
        if os.lseek(f.fileno(), size + 4096, os.SEEK_DATA) < size + hole - 4096:
            pytest.skip("this file system does not report holes (SEEK_DATA)")
    read = []
    real = recovery.read_at
    monkeypatch.setattr(recovery, "read_at", lambda fd, n, off: (read.append(n), real(fd, n, off))[1])
    db = kinonb.open(path)
    assert len(db) == 3 and db.ignored_bytes == hole + 8192
    assert sum(read) < 3 * recovery.SCAN_WINDOW + size


def test_info_escapes_control_characters(tmp_path):
    from kinonb.cli import main

    path = tmp_path / "c.knb"
    with kinonb.create(path, sync=False) as w:
        w.add_episode(np.zeros((1, 1), np.float32), task="a\x1b[2Jb\u202e", embodiment="e\rx",
                      images={"c\x07am": np.zeros((1, 2, 2, 3), np.uint8)})
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["info", "--episodes", str(path)]) == 0
        assert main(["schema", str(path)]) == 0
    text = out.getvalue()
    assert not any(c in text for c in "\x1b\x07\r\u202e")
    assert "a\\x1b[2Jb\\u202e" in text and "c\\x07am" in text and "e\\rx" in text


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    out = tmp_path / "out.knb"
    dead = _dead_pid()
    stale = [tmp_path / f".out.knb.kinonb-ingesting.{dead}.tmp", tmp_path / f".out.knb.{dead}.creating"]
    live = tmp_path / f".out.knb.kinonb-ingesting.{os.getppid()}.tmp"
    other = tmp_path / f".other.knb.kinonb-creating.{dead}.tmp"
    for p in (*stale, live, other):
        p.write_bytes(b"partial")
    src = _small(tmp_path / "src.knb")
    from kinonb.ops.merge import merge

    merge([src], out)
    assert not any(p.exists() for p in stale)
    assert live.exists() and other.exists()  # a live writer's, and another target's
    with kinonb.create(tmp_path / "other.knb", sync=False) as w:
        w.add_episode(np.zeros((1, 1), np.float32))
    assert not other.exists()
