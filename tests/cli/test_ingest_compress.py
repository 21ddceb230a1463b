"""``kinonb ingest --compress``: one codec for every camera, or per camera (comma-separated or repeated flags)."""

from __future__ import annotations

import numpy as np
import pytest

import kinonb
from kinonb.cli import main
from kinonb.cli.options import _ingest_compression
from kinonb.errors import UsageError


@pytest.fixture
def rollouts(tmp_path):
    root = tmp_path / "rollouts"
    root.mkdir()
    y, x = np.mgrid[:16, :24]
    frame = np.stack([x * 9, y * 13, (x + y) * 5], -1).astype(np.uint8)
    for i, t in enumerate((6, 8)):
        np.savez(root / f"rollout_{i}.npz", actions=np.zeros((t, 2), np.float32),
                 cam0=np.stack([np.roll(frame, k, 1) for k in range(t)]), cam1=np.stack([frame] * t))
    return root


def _ingest(rollouts, out, *compress):
    flags = [a for c in compress for a in ("--compress", c)]
    code = main(["ingest", str(rollouts), "-o", str(out), "--format", "npz", "--map", "images.front=cam0",
                 "--map", "images.wrist=cam1", "-q", *flags])
    assert code == 0
    db = kinonb.open(out)
    return {c["name"]: c["codec"] for c in db.schema() if c["role"] == "camera"}, db


@pytest.mark.parametrize("compress, want", [
    ((), {"front": "raw", "wrist": "raw"}),
    (("lz4",), {"front": "lz4", "wrist": "lz4"}),
    (("front=jpeg,wrist=lz4",), {"front": "jpeg", "wrist": "lz4"}),
    (("front=jpeg", "wrist=lz4"), {"front": "jpeg", "wrist": "lz4"}),
    (("wrist=lz4",), {"front": "raw", "wrist": "lz4"}),
])
def test_codec_per_camera(rollouts, tmp_path, compress, want):
    pytest.importorskip("simplejpeg")
    codecs, db = _ingest(rollouts, tmp_path / "o.knb", *compress)
    assert codecs == want
    src = np.load(rollouts / "rollout_1.npz")
    wrist = db.read_episode(1)["images"]["wrist"]
    assert np.array_equal(wrist, src["cam1"])  # lz4 and raw are lossless


def test_video_for_every_camera(rollouts, tmp_path):
    pytest.importorskip("av")
    codecs, db = _ingest(rollouts, tmp_path / "o.knb", "video")
    assert codecs == {"front": "video", "wrist": "video"}
    assert db.read_episode(0)["images"]["front"].shape == (6, 16, 24, 3)


@pytest.mark.parametrize("values, want", [
    (None, None), (["none"], None), (["jpeg"], "jpeg"), (["jpeg", "jpeg"], "jpeg"),
    (["a=jpeg, b=video"], {"a": "jpeg", "b": "video"}), (["a=lz4", "a=lz4"], {"a": "lz4"}),
])
def test_parse(values, want):
    assert _ingest_compression(values) == want


@pytest.mark.parametrize("values, match", [
    (["zstd"], "expected one of"), (["=jpeg"], "expected one of"), (["a=png"], "expected one of"),
    (["jpeg", "a=lz4"], "not both"), (["jpeg", "lz4"], "several codecs"), (["a=jpeg", "a=lz4"], "two codecs"),
])
def test_bad_values_are_usage_errors(values, match):
    with pytest.raises(UsageError, match=match):
        _ingest_compression(values)


def test_bad_value_exits_with_usage(rollouts, tmp_path, capsys):
    code = main(["ingest", str(rollouts), "-o", str(tmp_path / "o.knb"), "--format", "npz", "--compress", "png"])
    assert code != 0 and "--compress" in capsys.readouterr().err
