from __future__ import annotations

import numpy as np
import pytest


def smooth_frames(t=24, h=48, w=64, c=3):
    """Camera-like frames: a moving gradient (JPEG and video compress it as they would a real scene)."""
    y, x = np.mgrid[:h, :w]
    base = np.stack([x * 4, y * 5, (x + y) * 2], -1)[..., :c].astype(np.uint8)
    return np.stack([np.roll(base, i, axis=1) for i in range(t)])


@pytest.fixture
def frames():
    return smooth_frames()


@pytest.fixture
def encoded_video(frames):
    """A small h264 stream (B-frames, GOP 8) made by PyAV's own encoder."""
    pytest.importorskip("av")
    from kinonb.codecs import video

    return video.encode(frames, "h264", crf=20, gop=8)
