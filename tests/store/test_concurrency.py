"""G6, G7 across processes: one writer appends while 4 reader processes open, refresh and read; a second writer
is refused; read-only files and directories open and read.

Readers are ``spawn`` processes (no state inherited from pytest). Episodes and commit sizes are the
deterministic ones of ``tests/crash_writer.py``, so every reader can check, on its own, that each snapshot it
sees ends on a commit boundary and that every episode in it reads back bit for bit equal to what was written.
"""

from __future__ import annotations

import errno
import multiprocessing as mp
import os
import queue
import stat
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import crash_writer as CW
import numpy as np
import pytest

import kinonb
from kinonb.testing import assert_episode_equal

SEED = 21
READERS = 4
COMMITS = 120
CTX = mp.get_context("spawn")


def _boundaries(seed, upto):
    out, n = [0], 0
    while n < upto:
        n += CW.commit_size(seed, n)
        out.append(n)
    return out


def reader_loop(path: str, seed: int, me: int, stop, results) -> None:
    """Open / refresh / read until ``stop``; put ("ok", stats) or ("error", traceback) on ``results``."""
    try:
        warnings.simplefilter("ignore")  # a reader that opens mid-commit sees a torn tail: TornTailWarning
        boundaries = set(_boundaries(seed, 100_000))
        expected: dict[int, dict] = {}

        def want(i):
            if i not in expected:
                expected[i] = CW.episode(seed, i)
            return expected[i]

        rng = np.random.default_rng(me)
        first = kinonb.open(path)  # never refreshed: its snapshot must never change (G6)
        first_n = first.num_episodes()
        db = kinonb.open(path)  # refreshed or reopened in the loop
        results.put(("ready", me))
        seen, torn, rounds, refreshed = set(), 0, 0, 0
        while True:
            stopping = stop.is_set()  # read once more after the writer is done: the last commit must show
            if rng.random() < 0.5:
                refreshed += db.refresh()
            else:
                db = kinonb.open(path)
            n = db.num_episodes()
            assert n in boundaries, f"reader {me} saw {n} episodes: not a commit boundary"
            assert not seen or n >= max(seen), f"reader {me} went back from {max(seen)} to {n} episodes"
            seen.add(n)
            torn += db.ignored_bytes > 0
            positions = range(n) if n < 40 or rounds % 5 == 0 else sorted(set(rng.integers(0, n, 20)) | {n - 1})
            for i in positions:
                assert_episode_equal(db.read_episode(i), want(i))
            if rounds % 10 == 0:
                assert first.num_episodes() == first_n
                for i in range(first_n):
                    assert_episode_equal(first.read_episode(i), want(i))
            rounds += 1
            if stopping:
                break
        results.put(("ok", {"reader": me, "rounds": rounds, "snapshots": len(seen), "last": max(seen),
                            "torn tails seen": torn, "refreshes that moved": refreshed}))
    except BaseException:
        results.put(("error", f"reader {me}:\n{traceback.format_exc()}"))


def try_second_writer(path: str, results) -> None:
    """In another process: every way of writing to a locked file is refused with WriterLockedError."""
    out = {}
    for name, fn in (("append", lambda: kinonb.append(path)),
                     ("append(repair=True)", lambda: kinonb.append(path, repair=True)),
                     ("repair", lambda: kinonb.repair(path)),
                     ("create(overwrite=True)", lambda: kinonb.create(path, overwrite=True))):
        try:
            w = fn()
        except kinonb.WriterLockedError as e:
            out[name] = f"WriterLockedError: {e}"
        except BaseException as e:
            out[name] = f"{type(e).__name__}: {e}"
        else:
            out[name] = "not refused"
            if hasattr(w, "close"):
                w.close()
    results.put(out)


def _drain(results, want: int, timeout: float) -> list:
    got, deadline = [], time.monotonic() + timeout
    while len(got) < want:
        try:
            item = results.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"only {len(got)} of {want} answers from the reader processes within {timeout}s: {got}")
        if item[0] == "error":
            pytest.fail(item[1])
        got.append(item)
    return got


def test_one_writer_four_readers(tmp_path):
    """G6: 4 reader processes open, refresh and read while one writer makes 120 commits (and some aborts):
    every snapshot a reader sees is a whole commit, snapshots never go back, every visible episode reads back
    equal, and a reader's first snapshot stays readable and unchanged throughout."""
    path = tmp_path / "shared.knb"
    with kinonb.create(path) as w:
        n = 0
        for _ in range(3):
            for k in range(n, n + CW.commit_size(SEED, n)):
                w.add_episode(**CW.episode(SEED, k))
            w.commit()
            n = w.num_episodes
    stop = CTX.Event()
    results = CTX.Queue()
    readers = [CTX.Process(target=reader_loop, args=(str(path), SEED, me, stop, results)) for me in range(READERS)]
    for p in readers:
        p.start()
    try:
        _drain(results, READERS, timeout=120)  # every reader has opened the file
        rng = np.random.default_rng(SEED)
        with kinonb.append(path, sync=True) as w:
            for c in range(COMMITS):
                n = w.num_episodes
                if c % 10 == 5:  # an aborted batch: its bytes are written, then cut; no reader may see them
                    w.add_episode(**CW.episode(SEED + 1, n))
                    w.abort()
                for k in range(n, n + CW.commit_size(SEED, n)):
                    w.add_episode(**CW.episode(SEED, k))
                w.commit()
                time.sleep(float(rng.uniform(0, 0.01)))
            final = w.num_episodes
        stop.set()
        stats = [item[1] for item in _drain(results, READERS, timeout=300)]
    finally:
        stop.set()
        for p in readers:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    print(f"\nreaders: {stats}")
    assert all(p.exitcode == 0 for p in readers), [p.exitcode for p in readers]
    assert all(s["last"] == final for s in stats), (final, stats)
    assert sum(s["snapshots"] for s in stats) >= 2 * READERS, stats  # the readers really ran during the writes
    db = kinonb.open(path)
    assert db.num_episodes() == final and db.ignored_bytes == 0


def test_second_writer_in_another_process_is_refused(tmp_path):
    """G7: while a writer holds the file, append, append(repair=True), repair and create(overwrite=True) from
    another process all raise WriterLockedError, and the file is untouched."""
    path = tmp_path / "locked.knb"
    with kinonb.create(path) as w:
        w.add_episode(**CW.episode(SEED, 0))
        w.commit()
        with open(path, "ab") as f:
            f.write(b"tail" * 16)  # a torn tail too: repair must still be refused while the writer holds the lock
        size = path.stat().st_size
        results = CTX.Queue()
        p = CTX.Process(target=try_second_writer, args=(str(path), results))
        p.start()
        out = results.get(timeout=120)
        p.join(timeout=60)
        assert all(v.startswith("WriterLockedError") for v in out.values()), out
        assert "locked" in out["append"]
        assert path.stat().st_size == size
        w.abort()
    assert kinonb.open(path).num_episodes() == 1


def _readonly_guard(monkeypatch, path: Path):
    """As root, permission bits do not stop a write: refuse any open of ``path`` for writing, as the kernel
    would for another user, so the test still proves that readers never ask for write access."""
    if os.geteuid() != 0:
        return
    real_open = os.open
    target = os.path.realpath(path)

    def guarded(p, flags, *args, **kwargs):
        if os.path.realpath(p) == target and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(p))
        return real_open(p, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded)


@pytest.mark.parametrize("torn", [False, True], ids=["clean", "torn-tail"])
def test_read_only_file_and_directory(tmp_path, monkeypatch, torn):
    """A file with mode 0o444 in a directory with mode 0o555 opens, reads, refreshes and validates (a torn tail
    is reported, not repaired); writing to it raises PermissionError and changes nothing."""
    d = Path(tempfile.mkdtemp(dir=tmp_path))
    path = d / "ro.knb"
    with kinonb.create(path, compression="lz4") as w:
        for k in range(4):
            w.add_episode(**CW.episode(SEED, k))
    if torn:
        with open(path, "ab") as f:
            f.write(b"x" * 100)
    size = path.stat().st_size
    os.chmod(path, 0o444)
    os.chmod(d, 0o555)
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o444
        _readonly_guard(monkeypatch, path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            db = kinonb.open(path)
            db.refresh()
        assert db.ignored_bytes == (100 if torn else 0)
        assert any(issubclass(c.category, kinonb.TornTailWarning) for c in caught) == torn
        for k in range(4):
            assert_episode_equal(db.read_episode(k), CW.episode(SEED, k))
            assert db.frames(k, "cam", 0, 1).shape == (1, 12, 12, 3)
        assert db.query("num_frames > 0") == [0, 1, 2, 3]
        report = kinonb.validate(path, deep=True)
        assert report.ok and report.episodes == 4 and report.ignored_bytes == db.ignored_bytes
        with pytest.raises(PermissionError):
            kinonb.append(path)
        with pytest.raises(PermissionError):
            kinonb.repair(path)
        assert path.stat().st_size == size
    finally:
        monkeypatch.undo()
        os.chmod(d, 0o755)
        os.chmod(path, 0o644)
