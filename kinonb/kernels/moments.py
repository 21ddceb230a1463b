"""Column statistics (count, NaN and Inf counts, min, max, mean, M2) of a big numeric array in two compiled
passes without a float64 copy: what ``Writer.add_episodes`` records per column (numpy's version, in
:func:`kinonb.format.stats.of_array`, costs ~4x as much on float32 columns). Sums run in float64."""

from __future__ import annotations

import numpy as np

from .jit import kernel


@kernel
def moments(flat, out):
    """``out`` (float64, 7): count, nan_count, inf_count, min, max, mean, m2 of the finite elements of ``flat``
    (min, max and mean NaN when none is finite)."""
    count, nans, infs = 0, 0, 0
    lo, hi, total = np.inf, -np.inf, 0.0
    for i in range(flat.size):
        x = np.float64(flat[i])
        if np.isnan(x):
            nans += 1
        elif np.isinf(x):
            infs += 1
        else:
            count += 1
            total += x
            lo = min(lo, x)
            hi = max(hi, x)
    mean = total / count if count else np.nan
    m2 = 0.0
    if count:
        for i in range(flat.size):
            x = np.float64(flat[i])
            if np.isfinite(x):
                m2 += (x - mean) * (x - mean)
    out[0], out[1], out[2] = count, nans, infs
    out[3] = lo if count else np.nan
    out[4] = hi if count else np.nan
    out[5], out[6] = mean, m2
