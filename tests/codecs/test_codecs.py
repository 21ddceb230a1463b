"""jpeg and video cameras (issue 14): round trips, random access, raw_frames, the decode pool, errors."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import kinonb
from kinonb.codecs.frame_source import decode_camera_frames
from kinonb.format import layout as L

simplejpeg = pytest.importorskip("simplejpeg")


def _write(path, compression, images, **kw):
    with kinonb.create(path, compression=compression, **kw) as w:
        t = next(iter(images.values())).shape[0]
        w.add_episode(actions=np.zeros((t, 2), np.float32), images=images)
    return kinonb.open(path)


def test_jpeg_round_trip_psnr_and_exact_decode(tmp_path, frames):
    db = _write(tmp_path / "a.knb", "jpeg", {"front": frames}, jpeg_quality=95)
    got = db.read_episode(0)["images"]["front"]
    assert got.shape == frames.shape and got.dtype == np.uint8
    mse = np.mean((got.astype(float) - frames) ** 2)
    assert 10 * np.log10(255**2 / max(mse, 1e-9)) > 30
    stored = db.read_episode(0, raw_frames=True)["images"]["front"]
    assert isinstance(stored, kinonb.EncodedJpeg) and len(stored.frames) == len(frames)
    for t, jpeg in enumerate(stored.frames):
        assert np.array_equal(got[t], simplejpeg.decode_jpeg(jpeg))
    assert db.schema()[1]["codec"] == "jpeg" and db.version() == "1.1"
    assert kinonb.validate(db.path(), deep=True).ok


def test_encoded_jpeg_is_stored_as_given(tmp_path, frames):
    jpegs = [simplejpeg.encode_jpeg(f, quality=80) for f in frames]
    db = _write(tmp_path / "a.knb", None, {"front": kinonb.EncodedJpeg(jpegs, 48, 64)})
    assert db.read_episode(0, raw_frames=True)["images"]["front"].frames == jpegs
    assert np.array_equal(db.frames(0, "front", 3, 5)[1], simplejpeg.decode_jpeg(jpegs[4]))


def test_encoded_jpeg_of_another_size_is_refused(tmp_path, frames):
    jpegs = [simplejpeg.encode_jpeg(f) for f in frames]
    with kinonb.create(tmp_path / "a.knb") as w, pytest.raises(kinonb.SchemaError, match="header says"):
        w.add_episode(actions=np.zeros((24, 2), np.float32), images={"front": kinonb.EncodedJpeg(jpegs, 32, 64)})


def _av_decode(ev):
    import av

    ctx = av.CodecContext.create("h264", "r")
    out = []
    for data, pts in zip(ev.packets, ev.pts.tolist()):
        packet = av.Packet(data)
        packet.pts = pts
        out += ctx.decode(packet)
    out += ctx.decode(None)
    return np.stack([f.to_ndarray(format="rgb24") for f in sorted(out, key=lambda f: f.pts)])


def test_encoded_video_round_trip_equals_pyav(tmp_path, encoded_video):
    db = _write(tmp_path / "a.knb", None, {"side": encoded_video})
    want = _av_decode(encoded_video)
    got = db.read_episode(0)["images"]["side"]
    assert np.array_equal(got, want)
    stored = db.read_episode(0, raw_frames=True)["images"]["side"]
    assert stored.packets == encoded_video.packets and np.array_equal(stored.pts, encoded_video.pts)
    assert np.array_equal(stored.keyframe, encoded_video.keyframe) and stored.codec == "h264"
    for t in (0, 5, 7, 8, 13, 23):  # random access: from the nearest keyframe
        assert np.array_equal(db.frames(0, "side", t, t + 1)[0], want[t])
    assert kinonb.validate(db.path(), deep=True).ok


def test_raw_frames_to_video_and_per_camera_compression(tmp_path, frames):
    pytest.importorskip("av")
    db = _write(tmp_path / "a.knb", {"front": "jpeg", "wrist": "lz4", "side": "video"},
                {"front": frames, "wrist": frames, "side": frames, "plain": frames}, video_gop=10)
    codecs = {c["name"]: c["codec"] for c in db.schema()}
    assert codecs == {"actions": "raw", "front": "jpeg", "wrist": "lz4", "side": "video", "plain": "raw"}
    images = db.read_episode(0)["images"]
    assert np.array_equal(images["wrist"], frames) and np.array_equal(images["plain"], frames)
    assert np.abs(images["side"].astype(int) - frames).mean() < 8
    raw = db.read_episode(0, raw_frames=True)["images"]
    assert isinstance(raw["side"], kinonb.EncodedVideo) and isinstance(raw["wrist"], list)
    assert raw["plain"] is not None and np.shares_memory(raw["plain"], db.read_episode(0)["images"]["plain"])


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_decode_camera_frames_matches_read_episode(tmp_path, frames, encoded_video, threads):
    path = tmp_path / "a.knb"
    with kinonb.create(path, compression={"front": "jpeg", "wrist": "lz4"}) as w:
        for k in range(3):
            w.add_episode(actions=np.zeros((24, 2), np.float32),
                          images={"front": frames, "wrist": frames, "side": encoded_video})
    db = kinonb.open(path)
    kinonb.set_decode_threads(threads)
    try:
        episodes = np.array([0, 2, 1])
        ids = np.array([0, 30, 31, 32, 71, 50, 9, 9, 47])  # windows, repeats, several GOPs and episodes
        for cam in ("front", "wrist", "side"):
            blocks = db.column_blocks(cam, episodes)
            out = np.empty(len(ids) * frames[0].size, np.uint8)
            got = decode_camera_frames(blocks, ids, out)
            full = {e: db.read_episode(int(e))["images"][cam] for e in episodes}
            want = np.stack([full[episodes[k // 24]][k % 24] for k in ids])
            assert np.array_equal(got, want), cam
            assert np.shares_memory(got, out)
    finally:
        kinonb.set_decode_threads(None)


def test_pool_is_not_inherited_across_fork(tmp_path, frames, encoded_video):
    db = _write(tmp_path / "a.knb", "jpeg", {"front": frames})
    kinonb.set_decode_threads(2)
    try:
        want = db.read_episode(0)["images"]["front"]  # the parent's pool exists now
        pid = os.fork()
        if pid == 0:
            from kinonb.codecs import decode_pool

            ok = decode_pool._pool is None and np.array_equal(db.read_episode(0)["images"]["front"], want)
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        kinonb.set_decode_threads(None)


def test_missing_extra_names_it(tmp_path, frames, monkeypatch):
    monkeypatch.setitem(sys.modules, "simplejpeg", None)
    with kinonb.create(tmp_path / "a.knb", compression="jpeg") as w:
        with pytest.raises(kinonb.MissingExtraError, match=r"kinonb\[jpeg\]"):
            w.add_episode(actions=np.zeros((24, 2), np.float32), images={"front": frames})
    monkeypatch.setitem(sys.modules, "av", None)
    with kinonb.create(tmp_path / "b.knb", compression="video") as w:
        with pytest.raises(kinonb.MissingExtraError, match=r"kinonb\[video\]"):
            w.add_episode(actions=np.zeros((24, 2), np.float32), images={"front": frames})


def test_bad_arguments(tmp_path, frames):
    with pytest.raises(kinonb.InvalidArgumentError):
        kinonb.create(tmp_path / "a.knb", compression="png")
    with pytest.raises(kinonb.InvalidArgumentError):
        kinonb.create(tmp_path / "b.knb", compression={"front": "zstd"})
    with pytest.raises(kinonb.InvalidArgumentError):
        kinonb.create(tmp_path / "c.knb", jpeg_quality=0)
    with pytest.raises(kinonb.InvalidArgumentError):
        kinonb.set_decode_threads(0)
    with kinonb.create(tmp_path / "d.knb", compression="jpeg") as w, pytest.raises(kinonb.SchemaError, match="channels"):
        w.add_episode(actions=np.zeros((24, 2), np.float32), images={"front": np.zeros((24, 8, 8, 4), np.uint8)})


def test_gray_jpeg_and_padding_bound(tmp_path):
    flat = np.zeros((4, 256, 256, 1), np.uint8)  # compresses far below 1/16384: the writer pads the block
    db = _write(tmp_path / "a.knb", "jpeg", {"g": flat})
    assert np.array_equal(db.read_episode(0)["images"]["g"], flat)
    blk = db.column_blocks("g", np.array([0]))
    nbytes = int(kinonb.open(db.path())._index.blocks[0, 1]["nbytes"])
    assert 4 * 256 * 256 <= L.MAX_DECODED_RATIO * nbytes and blk.column.codec == L.CODEC_JPEG
