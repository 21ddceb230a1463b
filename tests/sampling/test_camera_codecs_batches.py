"""SampleIndex batches over lz4 / jpeg / video cameras (issue 14): equal to read_episode's decode of the same
frames, resized batches equal to kinonb.resize of them, padding flags, and DataLoader workers after the parent
has decoded on its thread pool."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import kinonb

pytest.importorskip("simplejpeg")
pytest.importorskip("av")

LENGTHS = (17, 9, 26)
CAMERAS = {"front": "jpeg", "wrist": "lz4", "side": "video"}


def _frames(t, seed, h=32, w=48):
    y, x = np.mgrid[:h, :w]
    base = np.stack([x * 5 + seed * 20, y * 7, (x + y) * 3], -1).astype(np.uint8)
    return np.stack([np.roll(base, 2 * i, axis=1) for i in range(t)])


@pytest.fixture(scope="module")
def camera_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cams") / "cams.knb"
    with kinonb.create(path, compression=CAMERAS, video_gop=5) as w:
        for e, t in enumerate(LENGTHS):
            images = {name: _frames(t, e + k) for k, name in enumerate(CAMERAS)}
            w.add_episode(actions=np.arange(t * 2, dtype=np.float32).reshape(t, 2), images=images)
    return path


@pytest.fixture(scope="module")
def decoded(camera_file):
    db = kinonb.open(camera_file)
    return {e: db.read_episode(e)["images"] for e in range(len(LENGTHS))}


def _expected(decoded, camera, batch, offsets):
    rows = []
    for e, t in zip(batch["episode"].tolist(), batch["frame"].tolist()):
        n = LENGTHS[e]
        rows.append(decoded[e][camera][np.clip(t + np.asarray(offsets), 0, n - 1)])
    return np.stack(rows)


@pytest.mark.parametrize("camera", sorted(CAMERAS))
def test_window_batches_equal_read_episode(camera_file, decoded, camera):
    db = kinonb.open(camera_file)
    offsets = [-2, -1, 0]
    index = db.sample_index({camera: offsets, "actions": [0]})
    ids = np.random.default_rng(1).permutation(len(index))[:40]
    ids = np.concatenate([ids, ids[:5]])  # repeated samples share decoded frames
    batch = index.read(ids)
    want = _expected(decoded, camera, batch, offsets)
    assert batch[camera].dtype == np.uint8 and np.array_equal(batch[camera], want)
    frame = batch["frame"][:, None] + np.asarray(offsets)[None]
    lengths = np.asarray(LENGTHS)[batch["episode"]][:, None]
    assert np.array_equal(batch[f"{camera}_is_pad"], (frame < 0) | (frame >= lengths))


@pytest.mark.parametrize("camera", sorted(CAMERAS))
@pytest.mark.parametrize("mode", ["bilinear", "area"])
def test_resized_batches_equal_kinonb_resize(camera_file, decoded, camera, mode):
    db = kinonb.open(camera_file)
    offsets = [-1, 0, 1]
    index = db.sample_index({camera: offsets})
    ids = np.arange(len(index))
    batch = index.read(ids, image_size=(24, 20), layout="CHW", normalize=True, mode=mode)
    frames = _expected(decoded, camera, batch, offsets)
    want = kinonb.resize(frames.reshape(-1, *frames.shape[2:]), (24, 20), mode, layout="CHW", normalize=True)
    assert batch[camera].shape == (len(ids), 3, 3, 24, 20) and batch[camera].dtype == np.float32
    assert np.array_equal(batch[camera].reshape(want.shape), want)


def test_every_camera_in_one_batch_and_out_buffers(camera_file, decoded):
    db = kinonb.open(camera_file)
    index = db.sample_index({name: [-1, 0] for name in CAMERAS})
    ids = np.arange(0, len(index), 3)
    out = {name: np.empty((len(ids), 2, 16, 16, 3), np.uint8) for name in CAMERAS}
    batch = index.read(ids, image_size=(16, 16), out=out)
    for name in CAMERAS:
        assert batch[name] is out[name]
        frames = _expected(decoded, name, batch, [-1, 0])
        assert np.array_equal(batch[name].reshape(-1, 16, 16, 3), kinonb.resize(frames.reshape(-1, 32, 48, 3), (16, 16)))


def test_empty_batch(camera_file):
    index = kinonb.open(camera_file).sample_index({"side": [0, 1]})
    batch = index.read(np.array([], np.int64), image_size=(8, 8))
    assert batch["side"].shape == (0, 2, 8, 8, 3) and batch["side_is_pad"].shape == (0, 2)


def test_one_decode_thread_gives_the_same_batch(camera_file):
    db = kinonb.open(camera_file)
    index = db.sample_index({"side": [-2, -1, 0], "front": [-2, -1, 0]})
    ids = np.arange(len(index))
    many = index.read(ids)
    try:
        kinonb.set_decode_threads(1)
        one = index.read(ids)
    finally:
        kinonb.set_decode_threads(None)
    assert np.array_equal(many["side"], one["side"]) and np.array_equal(many["front"], one["front"])


SCRIPT = """
import sys
import numpy as np
import torch
from torch.utils.data import DataLoader
import kinonb
from kinonb.torch import KinoDataset

path, context = sys.argv[1], sys.argv[2]
windows = {"front": [-1, 0], "side": [-1, 0], "wrist": [0]}
index = kinonb.open(path).sample_index(windows)
options = dict(image_size=(16, 16), mode="nearest", layout="CHW", normalize=True)
want = index.read(np.arange(len(index)), **options)  # the parent decodes on its thread pool first
ds = KinoDataset(path, windows=windows, image_size=(16, 16))
loader = DataLoader(ds, batch_size=8, shuffle=False, num_workers=2, multiprocessing_context=context,
                    timeout=120)
for epoch in range(2):
    start = 0
    for batch in loader:
        n = len(batch["side"])
        for name in windows:
            assert np.array_equal(batch[name].numpy(), want[name][start:start + n]), name
            assert np.array_equal(batch[f"{name}_is_pad"].numpy(), want[f"{name}_is_pad"][start:start + n])
        start += n
    assert start == len(index), (start, len(index))
print("ok", len(index))
"""


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_dataloader_workers_decode_after_the_parent(camera_file, context):
    pytest.importorskip("torch")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT), str(camera_file), context],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith(f"ok {sum(LENGTHS)}")
