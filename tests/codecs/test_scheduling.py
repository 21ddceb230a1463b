"""Opening libsvtav1 (as root) makes the opening thread SCHED_FIFO 99; kinonb's encoders put it back."""

import os
from fractions import Fraction

import numpy as np
import pytest

import kinonb
from kinonb.codecs.scheduling import scheduling_kept

av = pytest.importorskip("av")
pytestmark = pytest.mark.skipif("libsvtav1" not in av.codecs_available, reason="this FFmpeg has no libsvtav1")


def _policy():
    return os.sched_getscheduler(0), os.sched_getparam(0).sched_priority


def _open_svt():
    ctx = av.CodecContext.create("libsvtav1", "w")
    ctx.width, ctx.height, ctx.pix_fmt = 64, 48, "yuv420p"
    ctx.time_base, ctx.framerate = Fraction(1, 30), Fraction(30)
    ctx.open()


def test_scheduling_kept_puts_back_what_libsvtav1_changes():
    before = _policy()
    with scheduling_kept():
        _open_svt()
        changed = _policy()
    assert _policy() == before
    if os.geteuid() == 0:  # only then may SVT-AV1 switch: the guard above really had something to undo
        assert changed[0] == os.SCHED_FIFO, changed


def test_writing_av1_video_leaves_the_thread_as_it_was(tmp_path):
    before = _policy()
    frames = np.random.default_rng(0).integers(0, 255, (2, 6, 48, 64, 3), np.uint8)
    with kinonb.create(tmp_path / "v.knb", compression="video", video_codec="av1") as w:
        for ep in frames:
            w.add_episode(actions=np.zeros((6, 2), np.float32), images={"cam": ep})
    assert _policy() == before
    assert kinonb.open(tmp_path / "v.knb").read_episode(1)["images"]["cam"].shape == (6, 48, 64, 3)
