"""The one switch between compiled and plain-Python kernels.

Every kernel in kinonb is decorated with :func:`kernel`. With the environment variable
``KINONB_DISABLE_JIT=1`` set before import, kernels stay plain Python functions (slow, but debuggable and
bounds-checked). Compiled kernels keep their Python body as ``.py_func``, so tests compare both in one process.
"""

from __future__ import annotations

import os

JIT_ENABLED = os.environ.get("KINONB_DISABLE_JIT", "").lower() not in ("1", "true", "yes")


def kernel(fn=None, *, parallel: bool = False):
    """Compile ``fn`` with ``njit(nogil=True, cache=True)``, or return it unchanged when JIT is disabled.

    Usable bare (``@kernel``) or with options (``@kernel(parallel=True)``).
    """

    def wrap(f):
        if not JIT_ENABLED:
            f.py_func = f
            return f
        import numba

        return numba.njit(nogil=True, cache=True, parallel=parallel)(f)

    return wrap(fn) if fn is not None else wrap


def prange(*args):
    """``numba.prange`` when compiling, ``range`` otherwise (numba treats ``prange`` as ``range`` in py_func)."""
    return range(*args)


if JIT_ENABLED:
    from numba import prange  # noqa: F811  (numba recognises its own prange inside parallel kernels)
