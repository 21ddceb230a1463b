"""YUV 4:2:0 planes (a decoded video frame) to RGB, for batches that resize the frame right after.

FFmpeg's swscale converts a 640x480 frame in ~7 ms, more than dav1d takes to decode it; this kernel takes
well under 1 ms, with the GIL released. Each chroma sample covers its 2x2 luma pixels (no chroma filter), the
matrix is the stream's (BT.601 or BT.709), limited or full range, rounded to nearest: within a few levels of
swscale's ``rgb24``, which ``read_episode`` keeps returning exactly (see :mod:`kinonb.codecs.video`).
"""

from __future__ import annotations

import numpy as np

from .jit import kernel

#: (Kr, Kb) of the matrices this kernel has; FFmpeg's colour space numbers map onto them in codecs/video.py.
MATRICES = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}


def coefficients(matrix: str, full_range: bool) -> np.ndarray:
    """float32 [y_scale, y_offset, c_scale, r_v, g_u, g_v, b_u] for :func:`yuv420_to_rgb`."""
    kr, kb = MATRICES[matrix]
    kg = 1.0 - kr - kb
    y_scale, y_offset, c_scale = (1.0, 0.0, 1.0) if full_range else (255.0 / 219.0, 16.0, 255.0 / 224.0)
    return np.array([y_scale, y_offset, c_scale, 2 * (1 - kr), -2 * kb * (1 - kb) / kg, -2 * kr * (1 - kr) / kg,
                     2 * (1 - kb)], np.float32)


@kernel
def yuv420_to_rgb(planes, h, w, coef, out):
    """``planes``: uint8, the Y plane (h x w) then U then V (each (h / 2) x (w / 2)), packed; ``h`` and ``w`` even.
    ``out``: uint8 (h, w, 3). The caller checks every size. Chroma terms are computed once per 2x2 block."""
    cw = w // 2
    u0 = h * w
    v0 = u0 + (h // 2) * cw
    ys, yo, cs = coef[0], coef[1], coef[2]
    half, top = np.float32(0.5), np.float32(255.0)
    for ci in range(h // 2):
        for cj in range(cw):
            u = (np.float32(planes[u0 + ci * cw + cj]) - np.float32(128.0)) * cs
            v = (np.float32(planes[v0 + ci * cw + cj]) - np.float32(128.0)) * cs
            dr = coef[3] * v + half
            dg = coef[4] * u + coef[5] * v + half
            db = coef[6] * u + half
            for i in range(2 * ci, 2 * ci + 2):
                for j in range(2 * cj, 2 * cj + 2):
                    y = (np.float32(planes[i * w + j]) - yo) * ys
                    out[i, j, 0] = np.uint8(min(max(y + dr, np.float32(0.0)), top))
                    out[i, j, 1] = np.uint8(min(max(y + dg, np.float32(0.0)), top))
                    out[i, j, 2] = np.uint8(min(max(y + db, np.float32(0.0)), top))
