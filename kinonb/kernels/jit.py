"""The one switch between compiled and plain-Python kernels.

Every kernel in kinonb is decorated with :func:`kernel`. With the environment variable
``KINONB_DISABLE_JIT=1`` set before import, kernels stay plain Python functions (slow, but debuggable and
bounds-checked). Compiled kernels keep their Python body as ``.py_func``, so tests compare both in one process.
"""

from __future__ import annotations

import os

JIT_ENABLED = os.environ.get("KINONB_DISABLE_JIT", "").lower() not in ("1", "true", "yes")


def kernel(fn=None, *, inline: bool = False):
    """Compile ``fn`` with ``njit(nogil=True, cache=True)``, or return it unchanged when JIT is disabled.

    Kernels are serial and release the GIL; :mod:`kinonb.kernels.threads` splits a batch over threads (Numba's
    parallel backends are not fork-safe). Compilation is lazy: a kernel compiles on its first call, for the
    argument types of that call only.
    """

    def wrap(f):
        if not JIT_ENABLED:
            f.py_func = f
            return f
        import numba

        return numba.njit(nogil=True, cache=True, inline="always" if inline else "never")(f)

    return wrap(fn) if fn is not None else wrap
