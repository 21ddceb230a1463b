"""Rerun both ways (skipped without rerun-sdk and datafusion): recordings written with rerun-sdk's logging API
ingest with the values rerun-sdk's own dataframe query returns; ``kinonb view --save`` and ``kinonb export
--format rrd`` read back through rerun-sdk (and through ``kinonb ingest``) with the same values."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

rr = pytest.importorskip("rerun")
pytest.importorskip("datafusion")
pytest.importorskip("PIL")

import kinonb  # noqa: E402
from kinonb.cli import main  # noqa: E402
from kinonb.codecs.encoded import EncodedJpeg  # noqa: E402
from kinonb.errors import SourceLayoutError  # noqa: E402
from kinonb.interop.ingest import ingest  # noqa: E402
from kinonb.testing import same_bits  # noqa: E402


def _png(img) -> bytes:
    from PIL import Image

    b = io.BytesIO()
    Image.fromarray(img).save(b, format="PNG")
    return b.getvalue()


def _jpeg(img) -> bytes:
    from PIL import Image

    b = io.BytesIO()
    Image.fromarray(img).save(b, format="JPEG", quality=90)
    return b.getvalue()


def write_recording(path, t: int, seed: int, *, task="push the T", timeline="sequence", segments=None):
    """A recording as a robot logger writes one: /action and /state Scalars, three cameras, a 2x slower entity, a
    text log; properties task and fps."""
    rng = np.random.default_rng(seed)
    rec = rr.RecordingStream("kinonb_test", recording_id=f"rec{seed}")
    rec.save(str(path))
    rec.send_property("task", rr.AnyValues(text=task))
    rec.send_property("fps", rr.AnyValues(value=10.0))
    logged = {"action": rng.normal(size=(t, 2)), "state": rng.normal(size=(t, 3)),
              "img": rng.integers(0, 255, (t, 8, 10, 3), dtype=np.uint8)}
    for k in range(t):
        if timeline == "sequence":
            rec.set_time("frame_index", sequence=k)
        else:
            rec.set_time("clock", timestamp=np.datetime64(1_700_000_000_000_000_000 + k * 50_000_000, "ns"))
        if segments is not None:
            rec.log("/episode", rr.Scalars([float(segments[k])]))
        rec.log("/action", rr.Scalars(logged["action"][k]))
        rec.log("/state", rr.Scalars(logged["state"][k]))
        rec.log("/front", rr.EncodedImage(contents=_jpeg(logged["img"][k]), media_type="image/jpeg"))
        rec.log("/png", rr.EncodedImage(contents=_png(logged["img"][k]), media_type="image/png"))
        rec.log("/bgr", rr.Image(logged["img"][k], color_model="BGR"))
        if k % 2 == 0:
            rec.log("/slow", rr.Scalars([float(k)]))
        rec.log("/note", rr.TextLog(f"frame {k}"))
    rec.flush()
    rec.disconnect()
    return logged


def query(path, index="frame_index"):
    """rerun-sdk's own answer: the recording's table on ``index``."""
    store = rr.chunk.RrdReader(str(path)).stream().collect()
    return store.reader(index=index).to_arrow_table().sort_by(index)


def rows_of(table, column):
    cells = table[column].to_pylist()
    return [c for c in cells if c is not None]


@pytest.fixture
def recordings(tmp_path):
    folder = tmp_path / "recs"
    folder.mkdir()
    logged = [write_recording(folder / f"ep{i}.rrd", 5 + i, seed=i) for i in range(3)]
    return folder, logged


def test_ingest_matches_rerun_sdks_own_query(recordings, tmp_path):
    folder, logged = recordings
    out = tmp_path / "r.knb"
    with pytest.warns(kinonb.IngestWarning, match="TextLog"):
        report = ingest(folder, out)  # the format detected from the .rrd files
    assert report.format == "rrd" and report.episodes == 3
    assert any("/note" in s for s in report.skipped)
    db = kinonb.open(out)
    for i, rec in enumerate(sorted(folder.glob("*.rrd"))):
        table = query(rec)
        ep = db.read_episode(i, raw_frames=True)
        assert same_bits(ep["actions"], np.array(rows_of(table, "/action:Scalars:scalars")))
        assert ep["actions"].dtype == np.float64
        assert same_bits(ep["states"], np.array(rows_of(table, "/state:Scalars:scalars")))
        blobs = [c[0] for c in rows_of(table, "/front:EncodedImage:blob")]
        assert isinstance(ep["images"]["front"], EncodedJpeg)  # JPEG kept as its bytes
        assert [bytes(f) for f in ep["images"]["front"].frames] == [bytes(b) for b in blobs]
        decoded = db.read_episode(i)["images"]
        assert np.array_equal(decoded["png"], logged[i]["img"])  # PNG decoded, lossless
        assert np.array_equal(decoded["bgr"], logged[i]["img"][..., ::-1])  # BGR reordered to RGB
        times, values = ep["streams"]["slow"]
        slow = rows_of(table, "/slow:Scalars:scalars")
        assert np.array_equal(values[:, 0], np.array(slow)[:, 0])
        assert np.allclose(times, np.arange(0, len(slow) * 2, 2) / 10.0)  # index / fps
        meta = ep["meta"]
        assert (meta["task"], meta["fps"]) == ("push the T", 10.0)
        assert meta["attrs"]["rerun"]["recording_id"] == f"rec{i}"


def test_segments_and_a_time_timeline(tmp_path):
    seg = [0, 0, 0, 1, 1, 2, 2, 2, 2]
    write_recording(tmp_path / "one.rrd", len(seg), seed=7, timeline="time", segments=seg)
    report = ingest(tmp_path / "one.rrd", tmp_path / "s.knb", format="rrd", index="clock", segment_by="/episode")
    assert report.episodes == 3
    db = kinonb.open(tmp_path / "s.knb")
    assert [db.read_meta(i)["num_frames"] for i in range(3)] == [3, 2, 4]
    table = query(tmp_path / "one.rrd", "clock")
    clock = table["clock"].cast("int64").to_numpy()
    assert np.array_equal(db.read_episode(1)["timestamps"], clock[3:5])  # int64 ns of the time timeline
    assert same_bits(db.read_episode(2)["actions"], np.array(rows_of(table, "/action:Scalars:scalars"))[5:])


def test_an_unknown_index_names_the_timelines(recordings, tmp_path):
    folder, _ = recordings
    with pytest.raises(SourceLayoutError, match="frame_index"):
        ingest(folder, tmp_path / "x.knb", format="rrd", index="step")


def _knb(tmp_path):
    """A .knb with float32 actions, a JPEG camera, an lz4 camera, an extra column and rich metadata."""
    rng = np.random.default_rng(1)
    path = tmp_path / "d.knb"
    with kinonb.create(path, compression={"front": "jpeg", "wrist": "lz4"}) as w:
        for i in range(3):
            t = 4 + i
            w.add_episode(rng.normal(size=(t, 3)).astype(np.float32), rng.normal(size=(t, 2)).astype(np.float32),
                          rng.random(t).astype(np.float32), np.arange(t) == t - 1,
                          images={"front": rng.integers(0, 255, (t, 16, 16, 3), dtype=np.uint8),
                                  "wrist": rng.integers(0, 255, (t, 8, 8, 3), dtype=np.uint8)},
                          columns={"grip": rng.normal(size=(t, 1))}, task=f"task {i}", embodiment="franka", fps=20,
                          success=[True, False, None][i], total_reward=float(i), attrs={"operator": f"op{i}"})
    return path


def test_view_save_reads_back_through_rerun_sdk(tmp_path):
    src = _knb(tmp_path)
    out = tmp_path / "v.rrd"
    assert main(["view", str(src), "--episodes", "2,0", "--save", str(out)]) == 0
    table = query(out, "frame")
    db = kinonb.open(src)
    want = np.concatenate([db.read_episode(i)["actions"] for i in (2, 0)]).astype(np.float64)
    assert np.array_equal(np.array(rows_of(table, "/actions:Scalars:scalars")), want)
    assert np.array_equal(np.array(rows_of(table, "/episode/position:Scalars:scalars"))[:, 0],
                          [2.0] * 6 + [0.0] * 4)  # the episode boundary
    stored = db.read_episode(2, raw_frames=True)["images"]["front"].frames + \
        db.read_episode(0, raw_frames=True)["images"]["front"].frames
    assert [bytes(c[0]) for c in rows_of(table, "/cameras/front:EncodedImage:blob")] == [bytes(f) for f in stored]
    wrist = rows_of(table, "/cameras/wrist:Image:buffer")
    assert bytes(wrist[0][0]) == db.read_episode(2)["images"]["wrist"][0].tobytes()
    text = rows_of(table, "/episode:TextDocument:text")
    assert "task 2" in text[0][0] and "operator" in text[0][0]
    back = tmp_path / "v.knb"  # and the episodes come back, cut at /episode/position
    ingest(out, back, format="rrd", index="frame", segment_by="/episode/position")
    got = kinonb.open(back)
    assert [got.read_meta(i)["num_frames"] for i in range(len(got))] == [6, 4]
    assert np.array_equal(got.read_episode(1)["actions"], db.read_episode(0)["actions"].astype(np.float64))


def test_export_rrd_round_trips_through_ingest(tmp_path):
    src = _knb(tmp_path)
    folder = tmp_path / "recs"
    assert main(["export", str(src), "-o", str(folder), "--format", "rrd"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == [f"episode_{i:06d}.rrd" for i in range(3)]
    back = tmp_path / "back.knb"
    assert main(["ingest", str(folder), "-o", str(back), "--format", "rrd", "--json"]) == 0
    a, b = kinonb.open(src), kinonb.open(back)
    for i in range(3):
        x, y = a.read_episode(i), b.read_episode(i)
        for key in ("actions", "states", "rewards"):
            assert np.array_equal(y[key], x[key].astype(np.float64))  # Scalars are float64
        assert np.array_equal(y["is_terminal"], x["is_terminal"])
        assert np.array_equal(y["grip"], x["grip"])
        assert np.array_equal(y["images"]["front"], x["images"]["front"])  # the same JPEG bytes
        assert np.array_equal(y["images"]["wrist"], x["images"]["wrist"])
        for key in ("task", "embodiment", "fps", "success", "total_reward"):
            assert y["meta"][key] == x["meta"][key], key
        assert y["meta"]["attrs"]["operator"] == f"op{i}"


def test_stats_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    src = _knb(tmp_path)
    assert main(["stats", str(src), "--plot", str(tmp_path / "s.png"), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    db = kinonb.open(src)
    actions = np.concatenate([db.read_episode(i)["actions"] for i in range(3)]).astype(np.float64)
    assert np.allclose(stats["columns"]["actions"]["mean"], actions.mean(axis=0))
    assert np.allclose(stats["columns"]["actions"]["std"], actions.std(axis=0))
    assert [sum(h) for h in stats["columns"]["actions"]["hist"]] == [len(actions)] * 3
    assert stats["success"] == {"true": 1, "false": 1, "unknown": 1}
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _video_recording(path, frames, *, keyframes: bool):
    from kinonb.codecs.video import encode

    video = encode(frames, "h264", gop=4, fps=10)
    rng = np.random.default_rng(3)
    rec = rr.RecordingStream("kinonb_test", recording_id="video")
    rec.save(str(path))
    index = [rr.TimeColumn("frame_index", sequence=np.arange(len(frames)))]
    rec.log("/cam", rr.VideoStream(codec=rr.VideoCodec.H264), static=True)
    extra = {"is_keyframe": video.keyframe} if keyframes else {}
    rec.send_columns("/cam", indexes=index, columns=rr.VideoStream.columns(sample=video.packets, **extra))
    rec.send_columns("/action", indexes=index, columns=rr.Scalars.columns(scalars=rng.normal(size=(len(frames), 2))))
    rec.flush()
    rec.disconnect()
    return video


@pytest.mark.parametrize("keyframes", [True, False])
def test_video_streams_are_kept_as_video(tmp_path, keyframes):
    pytest.importorskip("av")
    frames = np.linspace(0, 255, 8 * 16 * 16 * 3).reshape(8, 16, 16, 3).astype(np.uint8)
    video = _video_recording(tmp_path / "v.rrd", frames, keyframes=keyframes)
    ingest(tmp_path / "v.rrd", tmp_path / "v.knb", format="rrd")
    db = kinonb.open(tmp_path / "v.knb")
    stored = db.read_episode(0, raw_frames=True)["images"]["cam"]
    assert [bytes(p) for p in stored.packets] == [bytes(p) for p in video.packets]  # not re-encoded
    assert np.array_equal(stored.keyframe, video.keyframe)  # logged, or found by one decode
    decoded = db.read_episode(0)["images"]["cam"]
    assert decoded.shape == frames.shape and np.abs(decoded.astype(int) - frames).mean() < 8
    # transcode: the frames decoded once and stored raw
    ingest(tmp_path / "v.rrd", tmp_path / "raw.knb", format="rrd", transcode="raw")
    raw = kinonb.open(tmp_path / "raw.knb")
    assert raw.schema()[-1]["codec"] == "raw" and np.array_equal(raw.read_episode(0)["images"]["cam"], decoded)
    # and back out: view passes the packets through as VideoStream samples
    view_path = tmp_path / "back.rrd"
    main(["view", str(tmp_path / "v.knb"), "--save", str(view_path)])
    table = query(view_path, "frame")
    assert [bytes(c[0]) for c in rows_of(table, "/cameras/cam:VideoStream:sample")] == \
        [bytes(p) for p in video.packets]


def test_export_rrd_replaces_only_its_own_folder(tmp_path):
    src = _knb(tmp_path)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(kinonb.InvalidArgumentError, match="refusing to replace it"):
        kinonb.ops.export.export(src, other, format="rrd", overwrite=True)
    assert (other / "notes.txt").read_text() == "keep me"
    out = tmp_path / "recs"
    kinonb.ops.export.export(src, out, format="rrd")
    with pytest.raises(FileExistsError):
        kinonb.ops.export.export(src, out, format="rrd")
    kinonb.ops.export.export(src, out, format="rrd", overwrite=True)  # its own earlier export: replaced
    assert len(list(out.iterdir())) == 3 and not list(tmp_path.glob(".recs.kinonb-partial"))
