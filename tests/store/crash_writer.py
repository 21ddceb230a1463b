"""A writer to be killed: it appends deterministic episodes to a .knb file in small commits and reports each one.

``tests/test_crash.py`` starts ``python tests/crash_writer.py --serve`` once. The server imports kinonb (and so
numpy, numba, lz4) a single time, then forks one writer per ``run`` command read from stdin, so that each of
hundreds of kills costs a fork instead of an interpreter start. The server never touches the .knb file and
starts no threads, so forking it is safe.

Protocol (one ASCII line each, on the server's stdout, which every writer inherits):

* stdin ``run PATH SEED SYNC COMPRESSION LIMIT``: fork a writer. It prints ``P <pid>``, then ``S <n>`` once
  ``kinonb.create`` / ``kinonb.append`` returned with n episodes in the file, then ``C <n>`` each time
  ``commit()`` returned with n episodes committed, and ``E <n>`` if it reaches LIMIT episodes and closes.
  Each line is a single ``write(2)`` of fewer than PIPE_BUF bytes, so a kill never leaves half a line.
* stdin ``wait``: reap the last writer (after the test killed it) and print ``D <wait status>``. Every line the
  writer printed precedes ``D``.

Episode ``k`` of a run with seed ``s`` is ``episode(s, k)``, and the commit that starts at episode ``k`` holds
``commit_size(s, k)`` episodes: the test regenerates both to check what a killed writer left behind.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings

import numpy as np

BIG_EVERY = 29  # every 29th episode also has a camera whose block (1.5 MB) bypasses the writer's 1 MiB stage


def commit_size(seed: int, start: int) -> int:
    """Episodes in the commit that begins at episode ``start``."""
    return 1 + (start * 2654435761 + seed) % 3


def episode(seed: int, k: int) -> dict:
    """Keyword arguments of add_episode for episode ``k``: random, but the same for the same (seed, k)."""
    rng = np.random.default_rng([seed, k])
    big = k % BIG_EVERY == BIG_EVERY - 1
    t = 12 if big else int(rng.integers(1, 24))
    ep = dict(
        actions=rng.standard_normal((t, 3)).astype(np.float32),
        rewards=rng.random(t, dtype=np.float32),
        is_terminal=np.arange(t) == t - 1,
        images={"cam": rng.integers(0, 256, (t, 12, 12, 3), dtype=np.uint8)},
        task=f"task {k % 5}",
        embodiment="crashbot",
        fps=10.0,
        success=None if k % 3 == 0 else bool(k % 2),
        total_reward=float(k) if k % 4 else None,
        attrs={"k": k, "seed": seed},
    )
    if k % 2:
        ep["states"] = rng.standard_normal((t, 2)).astype(np.float32)
    if big:
        ep["images"]["big"] = rng.integers(0, 256, (t, 128, 256, 4), dtype=np.uint8)
    return ep


def _say(tag: str, n: int) -> None:
    os.write(1, f"{tag} {n}\n".encode())


def open_writer(path: str, compression, sync: bool):
    """A writer that continues the file (repairing a torn tail a kill left), or creates it."""
    import kinonb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # append(repair=True) warns when it removes a torn tail: expected here
        if os.path.exists(path):
            return kinonb.append(path, compression=compression, sync=sync, repair=True)
        return kinonb.create(path, compression=compression, sync=sync)


def write_until_killed(path: str, seed: int, sync: bool, compression, limit: int) -> None:
    import kinonb

    _say("P", os.getpid())
    w = open_writer(path, compression, sync)
    n = w.num_episodes
    _say("S", n)
    while n < limit:
        size = commit_size(seed, n)
        for k in range(n, n + size):
            w.add_episode(**episode(seed, k))
        w.commit()
        n += size
        _say("C", n)
    w.close()
    _say("E", n)


def _load_kernels() -> None:
    """Write a few episodes to a scratch file, so that the writer's compiled kernels are loaded once, before any
    fork (each forked writer would otherwise spend its first moments loading them, and few kills would land
    inside a write). Small arrays only: no thread is started."""
    import tempfile

    import kinonb

    with tempfile.TemporaryDirectory() as d, kinonb.create(os.path.join(d, "warm.knb"), sync=False) as w:
        for k in range(4):
            w.add_episode(**episode(0, k))


def serve() -> None:
    import kinonb  # noqa: F401  (imported once, before any fork)

    _load_kernels()

    child = None
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "run":
            path, seed, sync, compression, limit = cmd[1:]
            sys.stdout.flush()
            sys.stderr.flush()
            child = os.fork()
            if child == 0:
                code = 0
                try:
                    write_until_killed(path, int(seed), sync == "1", None if compression == "none" else compression,
                                       int(limit))
                except BaseException:
                    traceback.print_exc()
                    sys.stderr.flush()
                    code = 1
                os._exit(code)
        elif cmd[0] == "wait":
            _, status = os.waitpid(child, 0)
            child = None
            print(f"D {status}", flush=True)
        elif cmd[0] == "quit":
            break


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        sys.exit("usage: python tests/crash_writer.py --serve   (driven by tests/test_crash.py)")
