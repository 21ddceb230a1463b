"""Durability (format_spec.md §15): truncation at every offset, a bit flip at every byte, I/O errors part way
through a commit, and (in tests/test_crash.py) SIGKILL at random moments.

Each sweep checks one small multi-commit file (header, blocks, footers, trailers) through ``kinonb.open``,
every read, and ``kinonb.validate(deep=True)``: the outcome is always an intact earlier commit's data or a
``FormatError`` subclass, never wrong data that nothing reports.
"""

import errno
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import kinonb
import kinonb.store.writer
from kinonb.format import layout as L
from kinonb.store.history import history
from kinonb.testing import assert_episode_equal
from test_crash import trimmed, with_column, with_meta

COMMITS = [1, 3, 4]  # episodes after each commit


def build(path, compression="lz4"):
    eps = []
    with kinonb.create(path, compression=compression, sync=False) as w:
        for i in range(COMMITS[-1]):
            ep = dict(actions=np.full((3, 2), i, np.float32), rewards=np.arange(3, dtype=np.float32) * i,
                      images={"top": np.full((3, 2, 2, 1), 10 + i, np.uint8)}, task=f"task {i % 2}",
                      success=bool(i % 2), attrs={"i": i})
            w.add_episode(**ep)
            eps.append(ep)
            if i + 1 in COMMITS:
                w.commit()
    return eps


def read_all(db):
    out = []
    for i in range(db.num_episodes()):
        ep = db.read_episode(i)
        out.append((ep["actions"].tobytes(), ep["rewards"].tobytes(), ep["images"]["top"].tobytes(),
                    ep["meta"]["task"], ep["meta"]["success"], ep["meta"]["attrs"]))
    return out


def expected(eps):
    return [(e["actions"].tobytes(), e["rewards"].tobytes(), e["images"]["top"].tobytes(), e["task"], e["success"],
             e["attrs"]) for e in eps]


def open_quietly(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return kinonb.open(path, **kw)


def commit_ends(path):
    """{episodes: end of the commit with that many episodes}, by truncating the file to each trailer."""
    raw = open(path, "rb").read()
    ends = {}
    for k in range(L.ALIGNMENT, len(raw) + 1, L.ALIGNMENT):
        if raw[k - L.TRAILER.itemsize : k - L.TRAILER.itemsize + 8] == L.TRAILER_MAGIC:
            n = int(np.frombuffer(raw, L.TRAILER, count=1, offset=k - L.TRAILER.itemsize)[0]["num_episodes"])
            ends[n] = k
    return ends


# -- G3: truncation ----------------------------------------------------------------------------------------

def test_truncation_every_offset(tmp_path):
    """G3: a cut at every byte opens to the newest commit wholly before the cut, data intact, with the rest
    reported as ignored bytes, and validate(deep=True) agrees; or it raises the FormatError the spec names."""
    src = tmp_path / "full.knb"
    eps = build(src)
    raw = src.read_bytes()
    ends = commit_ends(src)
    assert sorted(ends) == [0, *COMMITS]
    good = {n: expected(eps[:n]) for n in ends}
    cut = tmp_path / "cut.knb"
    outcomes = {}
    for k in range(len(raw) + 1):
        cut.write_bytes(raw[:k])
        newest = max((n for n, end in ends.items() if end <= k), default=None)
        report = kinonb.validate(cut, deep=True)
        if newest is None:
            want = kinonb.TruncatedFileError if k < L.HEADER.itemsize else kinonb.NoCommitError
            with pytest.raises(want):
                open_quietly(cut)
            assert not report.ok and report.errors
            outcomes[want.__name__] = outcomes.get(want.__name__, 0) + 1
            continue
        db = open_quietly(cut)
        n = db.num_episodes()
        assert n == newest, f"cut at {k}: opened {n} episodes, expected the commit of {newest}"
        assert read_all(db) == good[n], f"cut at {k}"
        assert db.ignored_bytes == k - ends[n]
        # A cut inside a later commit's footer leaves rows salvage can recover: validate says so (§15.1).
        recoverable = report.recoverable_episodes or 0
        assert report.ok == (not recoverable), (k, report.errors)
        assert recoverable in (0, *(m - n for m in ends if m > n))
        assert (report.episodes, report.ignored_bytes) == (n, k - ends[n])
        outcomes[n] = outcomes.get(n, 0) + 1
        outcomes["recoverable tail"] = outcomes.get("recoverable tail", 0) + bool(recoverable)
    assert set(outcomes) == {"TruncatedFileError", "NoCommitError", "recoverable tail", 0, *COMMITS}, outcomes
    assert outcomes["recoverable tail"] > 0


def test_repair_then_append_after_truncation(tmp_path):
    src = tmp_path / "d.knb"
    build(src)
    raw = src.read_bytes()
    src.write_bytes(raw[:-100])  # tear the last commit: its footer's rows survive, so salvage could recover them
    report = kinonb.validate(src)
    assert not report.ok and report.ignored_bytes > 0 and report.episodes == COMMITS[-2]
    assert report.recoverable_episodes == COMMITS[-1] - COMMITS[-2]
    with pytest.raises(kinonb.RecoverableTailError):
        kinonb.repair(src)
    removed = kinonb.repair(src, force=True)
    assert removed == report.ignored_bytes
    assert kinonb.validate(src).ignored_bytes == 0
    with kinonb.append(src) as w:
        w.add_episode(actions=np.zeros((2, 2), np.float32))
    assert kinonb.open(src).num_episodes() == COMMITS[-2] + 1


def test_repair_then_append_at_many_cuts(tmp_path):
    """G2/G3: at cuts all over the file (every 64-byte boundary, every byte of the last trailer and around the
    last footer's start), repair removes exactly the ignored bytes and an append commits on top of the
    surviving commit."""
    src = tmp_path / "full.knb"
    eps = build(src)
    raw = src.read_bytes()
    ends = commit_ends(src)
    footer_at = kinonb.open(src)._commit.footer_offset
    cuts = sorted(set(range(ends[0], len(raw) + 1, 64)) | set(range(ends[0], len(raw) + 1, 37))
                  | set(range(len(raw) - 70, len(raw) + 1)) | set(range(footer_at - 8, footer_at + 72)))
    cut = tmp_path / "cut.knb"
    extra = dict(actions=np.full((2, 2), 7, np.float32), rewards=np.ones(2, np.float32),
                 images={"top": np.full((2, 2, 2, 1), 77, np.uint8)}, task="after repair", success=None,
                 attrs={"i": 99})
    for k in cuts:
        cut.write_bytes(raw[:k])
        n = max(m for m, end in ends.items() if end <= k)
        assert kinonb.repair(cut, force=True) == k - ends[n]  # force: some cuts leave recoverable rows
        assert cut.stat().st_size == ends[n]
        with kinonb.append(cut, sync=False, compression="lz4") as w:
            w.add_episode(**extra)
        db = kinonb.open(cut)
        assert db.num_episodes() == n + 1 and db.ignored_bytes == 0
        assert read_all(db) == expected(eps[:n] + [extra]), f"cut at {k}"


@pytest.mark.parametrize("deleted, added", [
    (0, 1), (0, 0),
    (2, 1), (1, 2),
], ids=["append", "relabel", "delete2-add1", "delete1-add2"])
def test_torn_edit_commit_footer_without_trailer(tmp_path, deleted, added):
    """G2/G3 for an edit commit killed after its footer, before its trailer: the file opens at the commit before,
    salvage recovers the edit commit (deletes, relabel and appends applied), and since salvage recovers the
    appended episodes, validate does not pass and repair refuses without force (as for an append's footer)."""
    path = tmp_path / "e.knb"
    eps = [dict(actions=np.full((3, 2), i, np.float32), task=f"t{i}", attrs={"i": i}) for i in range(4)]
    new = [dict(actions=np.full((2, 2), 10 + i, np.float32), task=f"new {i}", attrs={}) for i in range(added)]
    with kinonb.create(path, sync=False) as w:
        for ep in eps:
            w.add_episode(**ep)
    with kinonb.append(path, sync=False) as w:
        w.set_meta(3, task="relabelled")
        w.delete_episodes(range(deleted))
        for ep in new:
            w.add_episode(**ep)
    edited = eps[deleted:3] + [{**eps[3], "task": "relabelled"}] + new
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - L.TRAILER.itemsize])
    db = open_quietly(path)
    _same_episodes(db, eps)
    assert db.ignored_bytes > 0
    salvaged = tmp_path / "s.knb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kinonb.salvage(path, salvaged)
    _same_episodes(kinonb.open(salvaged), edited)
    report = kinonb.validate(path)
    assert (report.episodes, report.ignored_bytes) == (len(eps), db.ignored_bytes)
    assert report.recoverable_episodes == added, (report.recoverable_episodes, report.errors)
    assert report.ok == (not added), report.errors
    if added:
        with pytest.raises(kinonb.RecoverableTailError):
            kinonb.repair(path)


# -- G4: bit flips -----------------------------------------------------------------------------------------

def _regions(path):
    """Byte ranges of the clean file: header, the newest footer and trailer, its section padding, and blocks."""
    db = kinonb.open(path)
    c = db._commit
    raw = open(path, "rb").read()
    sections = np.frombuffer(raw, L.SECTION, count=len(L.SECTION_NAMES),
                             offset=c.footer_offset + L.FOOTER_HEADER.itemsize)
    padding = set()
    for s in sections:
        end = int(s["offset"]) + int(s["length"])
        padding.update(range(c.footer_offset + end, c.footer_offset + min(L.align_up(end), c.footer_length)))
    blocks = set()
    for row in db._index.blocks:
        for b in row:
            if b["flags"] & L.BLOCK_PRESENT:
                blocks.update(range(int(b["offset"]), int(b["offset"]) + int(b["nbytes"])))
    trailer_at = c.footer_offset + c.footer_length
    return {"footer": range(c.footer_offset, trailer_at), "trailer": range(trailer_at, c.end), "padding": padding,
            "blocks": blocks}


def test_bitflip_every_byte(tmp_path):
    """G4: one bit flipped at every byte, each read through open, every read and validate(deep=True).

    * header: a FormatError at open;
    * the newest footer and trailer: 100% detected by a checksum, as a ChecksumError, or as a fall back to the
      previous commit (trailer CRC or footer_header_crc32) whose data equals what was written; the only
      exception is the zero padding after a footer section, which no CRC covers and which raises
      CorruptFieldError;
    * the newest commit's column blocks: validate(deep=True) reports a CRC-32 mismatch for every one;
    * anything else (older footers and trailers, padding between blocks): no effect on any read.
    """
    src = tmp_path / "full.knb"
    eps = build(src)
    raw = bytearray(src.read_bytes())
    good = {n: expected(eps[:n]) for n in [0, *COMMITS]}
    regions = _regions(src)
    flipped = tmp_path / "flip.knb"
    counts = {}

    def count(what):
        counts[what] = counts.get(what, 0) + 1

    for k in range(len(raw)):
        raw[k] ^= 1 << (k % 8)
        flipped.write_bytes(raw)
        raw[k] ^= 1 << (k % 8)
        error, got, n, ignored = None, None, None, None
        try:
            db = open_quietly(flipped)
            n, ignored = db.num_episodes(), db.ignored_bytes
            got = read_all(db)
        except kinonb.FormatError as e:
            error = e
        report = kinonb.validate(flipped, deep=True)
        assert report.ok == (not report.errors)
        if error is None and got != good[n]:
            # Plain reads do not check block CRCs: only a flip inside a block may change what they return.
            assert k in regions["blocks"], f"flip at {k} changed data outside any block"
        if k < L.HEADER.itemsize:
            assert error is not None and not report.ok, f"header flip at {k} went unnoticed"
            count("header: FormatError at open")
        elif k in regions["footer"] or k in regions["trailer"]:
            where = "footer" if k in regions["footer"] else "trailer"
            if error is None:
                assert n == COMMITS[-2] and ignored > 0 and got == good[n], f"{where} flip at {k} went unnoticed"
                assert (report.episodes, report.ignored_bytes) == (n, ignored)
                # The damaged commit's blocks are intact: where its rows still verify, validate says salvage can
                # recover them (§15.1) and does not pass.
                assert report.ok == (not report.recoverable_episodes), (k, report.errors)
                count(f"{where}: fall back to the previous commit")
            elif k in regions["padding"]:
                assert isinstance(error, kinonb.CorruptFieldError) and "zero padding" in str(error), (k, error)
                assert not report.ok
                count(f"{where}: section padding, CorruptFieldError")
            else:
                assert isinstance(error, kinonb.ChecksumError), f"{where} flip at {k}: {error!r}"
                assert not report.ok
                count(f"{where}: ChecksumError")
        elif k in regions["blocks"]:
            assert not report.ok and "CRC-32" in report.errors[0], f"block flip at {k} passed validate --deep"
            count("block: validate --deep CRC-32 mismatch")
        else:
            assert error is None and n == COMMITS[-1] and got == good[n], f"flip at {k}: {error!r}"
            assert report.ok, (k, report.errors)
            count("elsewhere: no effect")
    print(f"\nbit flips: {len(raw)} bytes, {counts}")
    assert sum(counts.values()) == len(raw)
    assert counts.get("footer: fall back to the previous commit") and counts.get("footer: ChecksumError")
    assert counts.get("trailer: fall back to the previous commit") == len(regions["trailer"])


# -- G1, G2: process kills (the campaign lives in tests/test_crash.py) --------------------------------------

def test_crash_kill_subprocess(tmp_path):
    """G1, G2: 200 SIGKILLs of a writer at random moments; see tests/test_crash.py (run once per session)."""
    from test_crash import CI_KILLS, crash_campaign

    assert crash_campaign(tmp_path, CI_KILLS)["kills"] >= CI_KILLS


def test_crash_kill_edit_commits(tmp_path):
    """G1, G2 for edit commits (delete, set_meta, add_column, trim mixed with appends): 60 SIGKILLs; see
    tests/test_crash.py (run once per session). ``TestEditMachine`` below checks the same edits without kills."""
    from test_crash import EDIT_CI_KILLS, edit_campaign

    assert edit_campaign(tmp_path, EDIT_CI_KILLS)["kills"] >= EDIT_CI_KILLS


# -- G8: I/O errors ----------------------------------------------------------------------------------------

class FailingOs:
    """The ``os`` module as kinonb.store.writer sees it, on a disk that fails.

    ``pwrite`` writes ``budget`` bytes in all (the call that crosses the budget is a short write), then raises
    ``OSError(err)``. ``fsync`` raises on its ``fsync_fail``-th call. ``ftruncate`` raises when ``truncate_fails``.
    """

    def __init__(self, err, budget=None, fsync_fail=None, truncate_fails=False):
        self.err, self.budget, self.fsync_fail, self.truncate_fails = err, budget, fsync_fail, truncate_fails
        self.written = 0
        self.fsyncs = 0
        self.failed = False

    def __getattr__(self, name):
        return getattr(os, name)

    def _raise(self):
        self.failed = True
        raise OSError(self.err, os.strerror(self.err))

    def pwrite(self, fd, data, offset):
        if self.budget is not None:
            left = self.budget - self.written
            if left <= 0:
                self._raise()
            data = memoryview(data)[:left]
        done = os.pwrite(fd, data, offset)
        self.written += done
        return done

    def fsync(self, fd):
        self.fsyncs += 1
        if self.fsyncs == self.fsync_fail:
            self._raise()
        return os.fsync(fd)

    def ftruncate(self, fd, length):
        if self.truncate_fails:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return os.ftruncate(fd, length)


def _episode(i, big=False):
    rng = np.random.default_rng(i)
    t = 10 if big else 3
    ep = dict(actions=rng.standard_normal((t, 2)).astype(np.float32), rewards=np.arange(t, dtype=np.float32) * i,
              images={"top": rng.integers(0, 256, (t, 4, 4, 3), dtype=np.uint8)}, task=f"task {i}",
              success=bool(i % 2), attrs={"i": i})
    if big:  # a 1.2 MB block: add_episode writes it straight through, past the writer's 1 MiB stage
        ep["columns"] = {"depth": rng.integers(0, 2**16, (t, 240, 256), dtype=np.uint16)}
    return ep


BASE = [_episode(0), _episode(1), _episode(2)]  # commits 2 and 3 (commit 1 is create's empty one): [0], [1, 2]
MORE = [_episode(3), _episode(4, big=True), _episode(5)]  # the commit that fails; it adds the "depth" column


def _base(path):
    with kinonb.create(path) as w:
        w.add_episode(**BASE[0])
        w.commit()
        w.add_episode(**BASE[1])
        w.add_episode(**BASE[2])


def _check_file(path, eps, ignored=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        db = kinonb.open(path)
    assert db.num_episodes() == len(eps) and db.ignored_bytes == ignored
    for i, ep in enumerate(eps):
        assert_episode_equal(db.read_episode(i), ep)
    report = kinonb.validate(path, deep=True)
    assert report.episodes == len(eps) and report.ignored_bytes == ignored, report.errors
    assert report.ok == (not report.recoverable_episodes), report.errors  # a footer written, not its trailer
    return report.recoverable_episodes


def _use_disk(monkeypatch, disk) -> None:
    """The writer's system calls (the writer module's and its staged appends') go to ``disk``."""
    monkeypatch.setattr(kinonb.store.writer, "os", disk)
    monkeypatch.setattr(kinonb.store.staged_appends, "os", disk)


def _failing_session(path, monkeypatch, disk):
    """Append MORE in one commit on ``disk``; return (the WriteFailedError, the failed writer)."""
    w = kinonb.append(path)
    _use_disk(monkeypatch, disk)
    try:
        with pytest.raises(kinonb.WriteFailedError) as info:
            for ep in MORE:
                w.add_episode(**ep)
            w.commit()
        assert disk.failed
        # The writer stays failed: every later call raises, and nothing reaches the file.
        with pytest.raises(kinonb.WriteFailedError, match="failed earlier"):
            w.add_episode(**MORE[0])
        with pytest.raises(kinonb.WriteFailedError, match="failed earlier"):
            w.commit()
        w.abort()
        w.close()  # releases the lock without committing
    finally:
        _use_disk(monkeypatch, os)
    return info.value, w


def _append_more(path):
    with kinonb.append(path) as w:
        for ep in MORE:
            w.add_episode(**ep)
    _check_file(path, BASE + MORE)


def _write_points(tmp_path):
    """Byte budgets at which to fail: all over the blocks, and every 64 bytes of the footer and trailer."""
    probe = tmp_path / "probe.knb"
    _base(probe)
    start = probe.stat().st_size
    _append_more(probe)
    c = kinonb.open(probe)._commit
    footer_at = c.footer_offset - start
    # The last episode's blocks are staged and written by commit(): the last few hundred bytes before the footer.
    blocks = np.linspace(0, footer_at, 24).astype(int).tolist() + [1, 63, 64, 65]
    blocks += [footer_at - 1 - 50 * j for j in range(8)]
    footer = list(range(footer_at, c.end - start, 64)) + [footer_at + 1, c.end - start - 1]
    return sorted(set(blocks + footer)), footer_at


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EIO], ids=["ENOSPC", "EIO"])
def test_enospc_mid_commit(tmp_path, monkeypatch, err):
    """G8: pwrite fails with ENOSPC/EIO after N bytes, for N all over the blocks and the footer and trailer:
    WriteFailedError (errno kept), the writer refuses further use, the file is back at its last commit with
    every episode intact, and appending works again."""
    base = tmp_path / "base.knb"
    _base(base)
    base_size = base.stat().st_size
    points, footer_at = _write_points(tmp_path)
    path = tmp_path / "d.knb"
    where = {"add_episode": 0, "commit (blocks)": 0, "commit (footer, trailer)": 0}
    for budget in points:
        shutil.copyfile(base, path)
        disk = FailingOs(err, budget=budget)
        e, _ = _failing_session(path, monkeypatch, disk)
        assert e.errno == err and isinstance(e, OSError) and isinstance(e, kinonb.KinonbError)
        assert str(path) in str(e) and "the 3 episodes of commit 3" in str(e), str(e)
        assert isinstance(e.__cause__, OSError) and e.__cause__.errno == err
        assert path.stat().st_size == base_size, f"failure after {budget} bytes left a tail"
        _check_file(path, BASE)
        _append_more(path)
        where["commit (footer, trailer)" if budget >= footer_at else
              "add_episode" if "add_episode" in "".join(_frames(e)) else "commit (blocks)"] += 1
    print(f"\n{os.strerror(err)} after N bytes, N in {len(points)} points: {where}")
    assert all(where.values()), where


def _frames(e):
    import traceback

    return [f.name for f in traceback.extract_tb(e.__traceback__)]


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EIO], ids=["ENOSPC", "EIO"])
def test_io_error_and_truncate_fails(tmp_path, monkeypatch, err):
    """G8 when the disk also refuses the truncate: the tail stays, readers ignore and report it, a plain
    append refuses the file, repair removes the tail, and appending works."""
    base = tmp_path / "base.knb"
    _base(base)
    base_size = base.stat().st_size
    points, footer_at = _write_points(tmp_path)
    path = tmp_path / "d.knb"
    for budget in [points[1], footer_at - 5, footer_at + 64, points[-1]]:
        shutil.copyfile(base, path)
        _failing_session(path, monkeypatch, FailingOs(err, budget=budget, truncate_fails=True))
        tail = path.stat().st_size - base_size
        assert tail == budget
        recoverable = _check_file(path, BASE, ignored=tail)
        with pytest.raises(kinonb.TornTailError):
            kinonb.append(path)
        assert kinonb.repair(path, force=bool(recoverable)) == tail
        _append_more(path)


@pytest.mark.parametrize("which", [1, 2, 3], ids=["F1-blocks", "F2-footer", "F3-trailer"])
def test_fsync_error_mid_commit(tmp_path, monkeypatch, which):
    """G8: EIO from each of the commit's three fsyncs. Before the trailer is written (F1, F2) the file is
    truncated back to the last commit; after it (F3) nothing is cut, since a reader may already use the new
    commit, which is intact either way."""
    path = tmp_path / "d.knb"
    _base(path)
    e, _ = _failing_session(path, monkeypatch, FailingOs(errno.EIO, fsync_fail=which))
    assert e.errno == errno.EIO
    if which < 3:
        _check_file(path, BASE)
        _append_more(path)
    else:
        _check_file(path, BASE + MORE)
        with kinonb.append(path) as w:
            assert w.num_episodes == len(BASE + MORE)


def test_enospc_in_create_leaves_no_file(tmp_path, monkeypatch):
    """kinonb.create on a full disk raises the OSError and leaves neither the file nor its temporary."""
    path = tmp_path / "new.knb"
    _use_disk(monkeypatch, FailingOs(errno.ENOSPC, budget=100))
    with pytest.raises(OSError) as info:
        kinonb.create(path)
    _use_disk(monkeypatch, os)
    assert info.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []


def test_failed_writer_does_not_close_a_reused_fd(tmp_path):
    """A Writer whose __init__ failed (torn tail, lock held) closed its fd; its __del__ must not close that
    fd number again, which by then belongs to another file (here: the writer that repairs the tail)."""
    import gc

    path = tmp_path / "d.knb"
    _base(path)
    with open(path, "ab") as f:
        f.write(b"torn" * 50)
    try:
        kinonb.append(path)
    except kinonb.TornTailError:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w = kinonb.append(path, repair=True)  # takes the lowest free fd: the one just closed
    gc.collect()
    with w:
        os.fstat(w._fd)
        for ep in MORE:
            w.add_episode(**ep)
    with kinonb.append(path) as w2:
        with pytest.raises(kinonb.WriterLockedError) as info:
            kinonb.append(path)
        other = os.open(path, os.O_RDONLY)  # reuses the fd number the refused writer closed
        del info
        gc.collect()
        os.fstat(other)
        os.close(other)
        w2.add_episode(**MORE[0])
    _check_file(path, BASE + MORE + MORE[:1])


def test_cli_validate_deep_and_repair(tmp_path, capsys):
    """The same checks through the command line: `kinonb validate --deep` fails on a flipped block byte and
    passes (with a warning) on a torn tail, which `kinonb validate --repair` removes."""
    cli = pytest.importorskip("kinonb.cli")
    src = tmp_path / "full.knb"
    build(src)
    raw = bytearray(src.read_bytes())
    block_byte = min(_regions(src)["blocks"])
    flipped = tmp_path / "flip.knb"
    raw[block_byte] ^= 0x10
    flipped.write_bytes(raw)
    assert cli.main(["validate", "--deep", str(flipped)]) == 1
    assert "CRC-32" in capsys.readouterr().out
    torn = tmp_path / "torn.knb"
    footer_at = kinonb.open(src)._commit.footer_offset
    torn.write_bytes(src.read_bytes()[: footer_at - 10])  # a torn append: the last commit's footer never written
    assert cli.main(["validate", "--deep", str(torn)]) == 0
    assert "bytes after the last intact commit" in capsys.readouterr().out
    assert cli.main(["validate", "--repair", str(torn)]) == 0
    assert kinonb.validate(torn, deep=True).ignored_bytes == 0


# -- G1 for edits (format 1.2): delete, set_meta, add_column, trim against a model --------------------------

_META_FIELDS = ("task", "success", "total_reward", "embodiment", "fps", "attrs", "instructions", "segments")
_RAW_NUMERIC = ("actions", "states", "rewards")  # raw numeric columns whose statistics edits keep exact
_EXTRA_COLUMNS = {"score": (), "emb": (2,)}  # extra per-frame columns (float32) add_column may give an episode


def _length(ep: dict) -> int:
    return len(ep["actions"])


class EditMachine(RuleBasedStateMachine):
    """Appends and edit commits (delete, set_meta, add_column, trim) against a list-of-dicts model.

    ``commits[k - 1]`` is the model of commit k (create writes commit 1, empty). Until a commit, ``view`` is
    the newest commit's episodes at their committed positions with this commit's edits applied in call order,
    ``deleted`` the positions deleted by it, ``pending`` the episodes added since; a commit lands
    ``[view[p] for p not deleted] + pending`` (when anything was recorded), an abort drops all three. Checked:
    a fresh reader sees exactly the newest commit; ``kinonb.open(path, commit=k)`` (k > 0 and k < 0) each
    earlier one; a reader open before a commit keeps its snapshot; edits on uncommitted, deleted or
    out-of-range positions raise PositionError and change nothing; the writer's counts; the column statistics
    after deletes and replaced blocks (counts and means exact, min/max bounds)."""

    def __init__(self):
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "e.knb"
        self.commits: list[list[dict]] = []
        self.writer = self.db = None
        self.db_view: list[dict] = []
        self.db_seq = 0
        self.seeds = 0

    # -- model -------------------------------------------------------------------------------------------
    @property
    def committed(self) -> list[dict]:
        return self.commits[-1]

    def _reset(self) -> None:
        self.view = list(self.committed)
        self.deleted: set = set()
        self.rows: set = set()  # positions with a column block written by this commit (add_column, trim)
        self.pending: list[dict] = []
        self.dirty = False  # an edit was recorded: the commit lands even without appends

    def _live(self) -> list[int]:
        return [p for p in range(len(self.view)) if p not in self.deleted]

    def _rng(self):
        self.seeds += 1
        return np.random.default_rng(self.seeds)

    def _episode(self, t, value, states, image, score, success, reward) -> dict:
        rng = self._rng()
        ep = dict(actions=(np.arange(t * 2, dtype=np.float32).reshape(t, 2) + 100 * value),
                  rewards=rng.standard_normal(t).astype(np.float32), task=f"t{value}", success=success,
                  attrs={"v": value})
        if reward is not None:
            ep["total_reward"] = reward
        if states:
            ep["states"] = rng.standard_normal((t + 1, 3)).astype(np.float32)
        if image:
            ep["images"] = {"cam": (np.arange(t, dtype=np.uint8)[:, None, None, None] * 7 + value
                                    + np.zeros((t, 3, 2, 3), np.uint8))}
        if score:
            ep["columns"] = {"score": rng.standard_normal(t).astype(np.float32)}
        return ep

    # -- rules -------------------------------------------------------------------------------------------
    @initialize(compression=st.sampled_from([None, "lz4"]), n=st.integers(0, 4))
    def create(self, compression, n):
        self.compression = compression
        self.writer = kinonb.create(self.path, compression=compression, sync=False)
        self.commits = [[]]
        self.has_camera = False  # a commit has added the camera column "cam"
        self._reset()
        if n:
            for i in range(n):
                ep = self._episode(2 + 2 * i, i, i % 2 == 1, i == 1, i == 2, None, None)
                self.writer.add_episode(**ep)
                self.pending.append(ep)
            self.writer.commit()
            self._land()

    @rule(t=st.integers(1, 6), value=st.integers(0, 9), states=st.booleans(), image=st.booleans(),
          score=st.booleans(), success=st.sampled_from([None, True, False]),
          reward=st.sampled_from([None, 1.5, -2.0]))
    @precondition(lambda self: self.writer is not None)
    def add(self, t, value, states, image, score, success, reward):
        ep = self._episode(t, value, states, image, score, success, reward)
        self.writer.add_episode(**ep)
        self.pending.append(ep)

    @rule(data=st.data())
    @precondition(lambda self: self.writer is not None and self._live())
    def delete(self, data):
        ps = data.draw(st.lists(st.sampled_from(self._live()), min_size=1, max_size=3, unique=True), label="delete")
        self.writer.delete_episodes(ps)
        self.deleted.update(ps)
        self.dirty = True

    @rule(data=st.data())
    @precondition(lambda self: self.writer is not None and self._live())
    def set_meta(self, data):
        p = data.draw(st.sampled_from(self._live()), label="position")
        t = _length(self.view[p])
        fields = data.draw(st.sets(st.sampled_from(_META_FIELDS), min_size=1, max_size=4), label="fields")
        values = {
            "task": st.sampled_from(["", "pick", "open the drawer"]),
            "success": st.sampled_from([None, True, False]),
            "total_reward": st.sampled_from([None, 0.0, 3.25, -1e9]),
            "embodiment": st.sampled_from(["", "franka"]),
            "fps": st.sampled_from([0.0, 10.0, 29.97]),
            "attrs": st.sampled_from([None, {}, {"op": "b"}, {"v": -1, "tags": ["x", "y"]}]),
            "instructions": st.sampled_from([None, [], ["open it"], ["pull", "open the drawer"]]),
            "segments": st.none() | st.lists(st.integers(0, t - 1).flatmap(
                lambda a: st.tuples(st.just(a), st.integers(a + 1, t), st.just(f"s{a}"))), max_size=2),
        }
        kw = {key: data.draw(values[key], label=key) for key in _META_FIELDS if key in fields}
        self.writer.set_meta(p, **kw)
        self.view[p] = with_meta(self.view[p], kw)
        self.dirty = True

    @rule(data=st.data())
    @precondition(lambda self: self.writer is not None and self._live())
    def add_column(self, data):
        """A new extra column, or one replaced (rewards relabelled, states, is_terminal, a camera's frames: the
        file must have that camera column already, else the name makes an extra column)."""
        names = ["rewards", *_EXTRA_COLUMNS, "states", "is_terminal"]
        if self.has_camera or any(ep.get("images") for ep in self.pending):
            names.append("cam")
        name = data.draw(st.sampled_from(names), label="name")
        p = data.draw(st.sampled_from(self._live()), label="position")
        ep = dict(self.view[p])
        t = _length(ep)
        rng = self._rng()
        if name == "is_terminal":
            arr = rng.random(t) < 0.5
        elif name == "cam":
            arr = rng.integers(0, 256, (t, 3, 2, 3), dtype=np.uint8)
        else:
            rows = data.draw(st.sampled_from([t, t + 1]), label="rows") if name in ("emb", "states") else t
            shape = (3,) if name == "states" else _EXTRA_COLUMNS.get(name, ())
            arr = rng.standard_normal((rows, *shape)).astype(np.float32)
        self.writer.add_column(p, name, arr)
        ep = with_column(ep, name, arr, camera=name == "cam")
        self.view[p] = ep
        self.rows.add(p)
        self.dirty = True

    @rule(data=st.data())
    @precondition(lambda self: self.writer is not None and self._live())
    def trim(self, data):
        p = data.draw(st.sampled_from(self._live()), label="position")
        t = _length(self.view[p])
        start = data.draw(st.integers(0, t - 1), label="start")
        end = data.draw(st.integers(start + 1, t), label="end")
        if p in self.rows:  # a block of it was written by this commit: trim after the commit
            with pytest.raises(kinonb.SchemaError):
                self.writer.trim(p, start, end)
            return
        self.writer.trim(p, start, end)
        if (start, end) != (0, t):
            self.view[p] = trimmed(self.view[p], start, end)
            self.rows.add(p)
            self.dirty = True

    @rule(data=st.data(), kind=st.sampled_from(["delete", "set_meta", "add_column", "trim"]))
    @precondition(lambda self: self.writer is not None)
    def edit_refused(self, data, kind):
        """An edit of a position that is not a committed, undeleted episode raises PositionError."""
        n = len(self.view)
        p = data.draw(st.sampled_from(sorted(self.deleted | {n, n + len(self.pending), -1})), label="bad")
        call = {"delete": lambda: self.writer.delete_episodes([*self._live()[:1], p]),
                "set_meta": lambda: self.writer.set_meta(p, task="never"),
                "add_column": lambda: self.writer.add_column(p, "score", np.zeros(1, np.float32)),
                "trim": lambda: self.writer.trim(p, 0, 1)}[kind]
        with pytest.raises(kinonb.PositionError):
            call()

    @rule(data=st.data(), abort=st.booleans())
    @precondition(lambda self: self.writer is not None)
    def commit(self, data, abort):
        """``w.commit()`` lands the appends and edits as one commit; ``w.abort()`` discards them all."""
        if abort:
            self.writer.abort()
            self._reset()
            assert self.writer.num_episodes == len(self.committed)
            assert self.writer.num_frames == sum(_length(ep) for ep in self.committed)
            return
        self.writer.commit()
        self._land(data)

    def _land(self, data=None, check=True):
        """The model after a commit (a commit with nothing recorded adds none), then the file checked."""
        self.has_camera |= any(ep.get("images") for ep in self.pending)
        edited, deleted = self.dirty, sorted(self.deleted)
        if self.dirty or self.pending:
            self.commits.append([ep for p, ep in enumerate(self.view) if p not in self.deleted] + self.pending)
        self._reset()
        if check:
            self._check_file(data, edited, deleted)

    @rule(data=st.data())
    def reopen(self, data):
        """``w.close()`` commits like ``w.commit()``; a new ``kinonb.append`` writer continues from that commit."""
        self.writer.close()
        self.writer = None
        self._land(data)
        self.writer = kinonb.append(self.path, sync=False, compression=self.compression)
        self._reset()

    @rule(refresh=st.booleans())
    def reader(self, refresh):
        """Open a reader (or refresh the open one): it keeps this snapshot through later commits."""
        if refresh and self.db is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.db.refresh()
        else:
            self.db = open_quietly(self.path)
        self.db_view, self.db_seq = self.committed, len(self.commits)

    # -- checks ------------------------------------------------------------------------------------------
    @invariant()
    def writer_counts(self):
        if self.writer is not None:
            assert self.writer.num_episodes == len(self.view) - len(self.deleted) + len(self.pending)
            assert self.writer.num_frames == sum(_length(self.view[p]) for p in self._live()) + sum(
                _length(ep) for ep in self.pending)

    @invariant()
    def reader_keeps_its_snapshot(self):
        if self.db is not None:
            assert self.db.commit_seq == self.db_seq
            _same_episodes(self.db, self.db_view)

    def _check_file(self, data, edited, deleted):
        db = open_quietly(self.path)
        assert db.commit_seq == len(self.commits)
        if edited:
            assert db.version() == "1.2"
        _same_episodes(db, self.committed)
        _same_stats(db, self.committed)
        if edited:
            assert history(self.path)[-1].changes.get("deleted", []) == deleted
        if len(self.commits) > 1:
            _same_episodes(open_quietly(self.path, commit=-2), self.commits[-2])
        if data is not None:
            k = data.draw(st.integers(1, len(self.commits)), label="commit=k")
            _same_episodes(open_quietly(self.path, commit=k), self.commits[k - 1])
            _same_episodes(open_quietly(self.path, commit=k - 1 - len(self.commits)), self.commits[k - 1])

    def teardown(self):
        try:
            if self.writer is not None:
                self.writer.close()
                self._land(check=False)
            if self.commits:
                db = open_quietly(self.path)
                _same_episodes(db, self.committed)
                assert [r.num_episodes for r in history(self.path)] == [len(c) for c in self.commits]
                report = kinonb.validate(self.path, deep=True)
                assert report.ok, report.errors
        finally:
            self.db = None
            self.dir.cleanup()


def _same_episodes(db, model) -> None:
    assert db.num_episodes() == len(model)
    for i, ep in enumerate(model):
        assert_episode_equal(db.read_episode(i), ep)


def _same_stats(db, model) -> None:
    """Raw numeric columns: count and mean of what the model holds; min and max bound it (deletes and replaced
    blocks cannot undo them)."""
    stats = db.stats()
    for name in (*_RAW_NUMERIC, *_EXTRA_COLUMNS):
        if name not in stats:
            continue
        arrays = [ep.get(name) if name in _RAW_NUMERIC else (ep.get("columns") or {}).get(name) for ep in model]
        values = np.concatenate([np.asarray(a, np.float64).reshape(-1) for a in arrays if a is not None] or
                                [np.zeros(0)])
        s = stats[name]
        assert s["count"] == values.size, (name, s, values.size)
        if values.size:
            assert s["mean"] == pytest.approx(values.mean(), rel=1e-6, abs=1e-6), (name, s)
            assert s["min"] <= values.min() and s["max"] >= values.max(), (name, s)


TestEditMachine = EditMachine.TestCase
TestEditMachine.settings = settings(stateful_step_count=40, deadline=None)
