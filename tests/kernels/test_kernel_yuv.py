"""The compiled YUV 4:2:0 -> RGB kernel: its Python body gives the same bytes, it rounds the exact BT.601/709
formula to nearest, and on frames FFmpeg decodes it stays within 3 levels of swscale's rgb24."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kinonb.kernels.yuv import MATRICES, coefficients, yuv420_to_rgb


def _reference(planes, h, w, matrix, full_range):
    kr, kb = MATRICES[matrix]
    kg = 1 - kr - kb
    y = planes[: h * w].reshape(h, w).astype(np.float64)
    c = planes[h * w :].reshape(2, h // 2, w // 2).astype(np.float64).repeat(2, 1).repeat(2, 2) - 128
    u, v = c[0], c[1]
    if not full_range:
        y, u, v = (y - 16) * 255 / 219, u * 255 / 224, v * 255 / 224
    rgb = np.stack([y + 2 * (1 - kr) * v, y - 2 * kb * (1 - kb) / kg * u - 2 * kr * (1 - kr) / kg * v,
                    y + 2 * (1 - kb) * u], -1)
    return np.clip(rgb, 0, 255)


@given(h=st.integers(1, 9).map(lambda k: 2 * k), w=st.integers(1, 9).map(lambda k: 2 * k),
       matrix=st.sampled_from(sorted(MATRICES)), full_range=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_rounds_the_exact_formula_and_equals_its_python_body(h, w, matrix, full_range, seed):
    planes = np.random.default_rng(seed).integers(0, 256, h * w * 3 // 2, dtype=np.uint8)
    coef = coefficients(matrix, full_range)
    out, py = np.empty((h, w, 3), np.uint8), np.empty((h, w, 3), np.uint8)
    yuv420_to_rgb(planes, h, w, coef, out)
    yuv420_to_rgb.py_func(planes, h, w, coef, py)
    assert np.array_equal(out, py)
    exact = _reference(planes, h, w, matrix, full_range)
    assert np.abs(out - exact).max() <= 0.5 + 1e-3  # float32 arithmetic, rounded half up


def test_within_three_levels_of_swscale_on_decoded_frames(tmp_path):
    av = pytest.importorskip("av")
    from kinonb.codecs import video

    rng = np.random.default_rng(0)
    y, x = np.mgrid[:48, :64]
    frames = np.stack([np.stack([x * 4 + i, y * 5, (x ^ y) * 3], -1).astype(np.uint8) for i in range(6)])
    frames = np.clip(frames.astype(int) + rng.integers(-8, 8, frames.shape), 0, 255).astype(np.uint8)
    ev = video.encode(frames, "h264", gop=3)
    ctx = av.CodecContext.create("h264", "r")
    decoded = [f for p in ev.packets for f in ctx.decode(av.Packet(p))] + list(ctx.decode(None))
    assert len(decoded) == 6
    out = np.empty((48, 64, 3), np.uint8)
    for f in decoded:
        assert video._converted(f, out)
        assert np.abs(out.astype(int) - f.to_ndarray(format="rgb24")).max() <= 3
