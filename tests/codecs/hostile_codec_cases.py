"""Forged jpeg and video blocks (issue 14 req 6), run by test_hostile_codecs.py in a child process capped at
4 GiB of address space: every read is a result or a kinonb.FormatError, never a crash or a MemoryError."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

import kinonb
from kinonb.testing import forge_commit

simplejpeg = pytest.importorskip("simplejpeg")
pytest.importorskip("av")
WORK = Path(tempfile.mkdtemp(prefix="kinonb-hostile-codecs-"))
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _base(kind: str) -> Path:
    from kinonb.codecs import video

    y, x = np.mgrid[:32, :48]
    frames = np.stack([np.roll(np.stack([x * 5, y * 7, x + y], -1).astype(np.uint8), i, 1) for i in range(12)])
    path = WORK / f"{kind}-{os.urandom(4).hex()}.knb"
    image = video.encode(frames, "h264", gop=4) if kind == "video" else frames
    with kinonb.create(path, compression="jpeg", sync=False) as w:
        w.add_episode(actions=np.zeros((12, 2), np.float32), images={"cam": image})
    return path


def _block(path):
    db = kinonb.open(path)
    blk = db._index.blocks[0, 1]
    return int(blk["offset"]), int(blk["nbytes"])


def _patch(path, at, data):
    with open(path, "r+b") as f:
        f.seek(at)
        f.write(data)


def _exercise(path):
    report = kinonb.validate(path, deep=True)
    try:
        db = kinonb.open(path)
    except kinonb.FormatError:
        return "refused at open"
    outcomes = []
    for fn in (lambda: db.read_episode(0), lambda: db.frames(0, "cam", 2, 5), lambda: db.frames(0, "cam", 11, 12),
               lambda: db.read_episode(0, raw_frames=True),
               lambda: __import__("kinonb.codecs.frame_source", fromlist=["x"]).decode_camera_frames(
                   db.column_blocks("cam", np.array([0])), np.array([0, 5, 11]),
                   np.empty(3 * db.column_blocks("cam", np.array([0])).column.frame_nbytes, np.uint8))):
        try:
            fn()
            outcomes.append("ok")
        except kinonb.FormatError:
            outcomes.append("refused")
    return f"validate ok={report.ok}, reads {outcomes}"


def _jpeg_cases():
    def wrong_sof(path):  # a JPEG of another size in frame 3
        off, _ = _block(path)
        table = np.fromfile(path, "<u8", 13, offset=off)
        other = simplejpeg.encode_jpeg(np.zeros((16, 16, 3), np.uint8))
        _patch(path, off + int(table[3]), other[: int(table[4] - table[3])])

    def truncated(path):
        off, _ = _block(path)
        table = np.fromfile(path, "<u8", 13, offset=off)
        _patch(path, off + int(table[5]) + 20, b"\xff\xd9" + b"\0" * int(table[6] - table[5] - 22))

    def garbage(path):
        off, nbytes = _block(path)
        _patch(path, off + 104, np.random.default_rng(1).integers(0, 256, nbytes - 104, np.uint8).tobytes())

    def table_out(path):
        off, _ = _block(path)
        _patch(path, off + 8 * 7, (2**63).to_bytes(8, "little"))

    def huge_dims(path):
        forge_commit(path, lambda f: f.columns.__setitem__(1, dataclasses.replace(f.columns[1], shape=(2**15, 2**15, 3))))

    return [wrong_sof, truncated, garbage, table_out, huge_dims]


def _video_cases():
    def packet_outside(path):
        off, _ = _block(path)
        _patch(path, off + 64 + 24 * 5, (2**40).to_bytes(8, "little"))

    def length_outside(path):
        off, _ = _block(path)
        _patch(path, off + 64 + 24 * 11 + 16, (2**32 - 1).to_bytes(4, "little"))

    def not_keyframe_first(path):
        off, _ = _block(path)
        _patch(path, off + 64 + 20, (0).to_bytes(4, "little"))

    def garbage_packets(path):
        off, nbytes = _block(path)
        start = off + 64 + 24 * 12
        _patch(path, start, np.random.default_rng(2).integers(0, 256, off + nbytes - start, np.uint8).tobytes())

    def wrong_dims(path):
        off, _ = _block(path)
        _patch(path, off + 16, (4096).to_bytes(4, "little"))

    def bad_codec(path):
        off, _ = _block(path)
        _patch(path, off, b"rawvideo".ljust(16, b"\0"))

    def huge_dims(path):
        forge_commit(path, lambda f: f.columns.__setitem__(1, dataclasses.replace(f.columns[1], shape=(2**15, 2**15, 3))))

    def huge_header_and_column(path):  # header and column agree on 16k x 16k: the decoded-size bound refuses
        off, _ = _block(path)
        _patch(path, off + 16, (2**14).to_bytes(4, "little") + (2**14).to_bytes(4, "little"))
        forge_commit(path, lambda f: f.columns.__setitem__(1, dataclasses.replace(f.columns[1], shape=(2**14, 2**14, 3))))

    return [packet_outside, length_outside, not_keyframe_first, garbage_packets, wrong_dims, bad_codec, huge_dims,
            huge_header_and_column]


@pytest.mark.parametrize("case", _jpeg_cases(), ids=lambda f: f.__name__)
def test_forged_jpeg_block(case):
    path = _base("jpeg")
    case(path)
    print("jpeg", case.__name__, _exercise(path))


@pytest.mark.parametrize("case", _video_cases(), ids=lambda f: f.__name__)
def test_forged_video_block(case):
    path = _base("video")
    case(path)
    print("video", case.__name__, _exercise(path))
