"""G1, G2: a writer killed with SIGKILL at random moments never loses a completed commit.

A forked writer (``tests/crash_writer.py``) appends deterministic episodes in commits of 1-3 episodes and
reports each commit once ``commit()`` has returned; the test kills it after a random delay. After each kill:

* the file opens to the last reported commit, or to the one after it (killed after the commit, before the
  report), and never to anything else;
* every episode of every completed commit reads back bit for bit equal to what was written;
* the torn tail is reported (``db.ignored_bytes``, a ``TornTailWarning``, ``validate(...).ignored_bytes``)
  and is exactly the bytes after the commit's end;
* ``kinonb.repair`` removes exactly that tail (3 kills in 4); otherwise ``kinonb.append`` refuses the file
  (``TornTailError``, file untouched) and the next writer's ``kinonb.append(repair=True)`` removes it;
* the next writer appends to the same file (so the file is reused across kills, and appending after a kill is
  checked every time).

Files rotate every ``KILLS_PER_FILE`` kills; half of them use ``sync=True`` and half lz4 cameras. The first
writer of each file creates it, so kills also land inside ``kinonb.create``.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import crash_writer as CW
import numpy as np
import pytest

import kinonb
from kinonb.format import layout as L
from kinonb.testing import assert_episode_equal

HERE = Path(__file__).resolve().parent
CI_KILLS = 200
SLOW_KILLS = 2000
KILLS_PER_FILE = 25
MAX_EPISODES_PER_FILE = 250  # then the next file: keeps the per-kill read-back check and the footers small

_DONE: dict = {}  # campaigns already run in this session: two node ids cite the same campaign


class WriterServer:
    """``crash_writer.py --serve``: forks writers on request; read with timeouts so a hang fails the test."""

    def __init__(self, err_path: Path):
        self.err_path = err_path
        self.err = open(err_path, "wb")
        self.proc = subprocess.Popen([sys.executable, str(HERE / "crash_writer.py"), "--serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, cwd=HERE.parent)
        self.fd = self.proc.stdout.fileno()
        self.buf = b""

    def send(self, line: str) -> None:
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def line(self, timeout: float = 60.0) -> tuple[str, int]:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"crash_writer.py said nothing for {timeout}s; stderr:\n{self.stderr()}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = os.read(self.fd, 1 << 16)
                if not chunk:
                    raise EOFError(f"crash_writer.py exited ({self.proc.poll()}); stderr:\n{self.stderr()}")
                self.buf += chunk
        raw, _, self.buf = self.buf.partition(b"\n")
        tag, value = raw.decode().split()
        return tag, int(value)

    def stderr(self) -> str:
        self.err.flush()
        return self.err_path.read_text(errors="replace")[-4000:]

    def run_and_kill(self, path, seed, sync, compression, limit, delay) -> tuple[list, bool]:
        """Fork a writer, SIGKILL it ``delay`` seconds after it started; return (its reports, whether killed)."""
        self.send(f"run {path} {seed} {int(sync)} {compression or 'none'} {limit}")
        tag, pid = self.line()
        assert tag == "P", (tag, pid)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        self.send("wait")
        events = []
        while True:
            tag, value = self.line()
            if tag == "D":
                break
            events.append((tag, value))
        killed = os.WIFSIGNALED(value) and os.WTERMSIG(value) == signal.SIGKILL
        if not killed:
            assert os.WIFEXITED(value) and os.WEXITSTATUS(value) == 0 and events[-1][0] == "E", (
                f"writer failed on its own: status {value}, reports {events[-3:]}; stderr:\n{self.stderr()}")
        return events, killed

    def close(self) -> None:
        try:
            self.send("quit")
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.err.close()


class ExpectedEpisodes(dict):
    def __init__(self, seed):
        super().__init__()
        self.seed = seed

    def __missing__(self, k):
        self[k] = ep = CW.episode(self.seed, k)
        return ep


def _tail_kind(path: Path, end: int, size: int) -> str:
    """Where in a commit the writer was when it died, judged from the torn tail's bytes."""
    if size == end:
        return "no tail"
    with open(path, "rb") as f:
        f.seek(end)
        tail = f.read()
    aligned = range((-end) % L.ALIGNMENT, len(tail) - 7, L.ALIGNMENT)
    if any(tail[i : i + 8] == L.TRAILER_MAGIC for i in aligned):
        return "tail with a torn trailer"
    if any(tail[i : i + 8] == L.FOOTER_MAGIC for i in aligned):
        return "tail ending in a footer"
    return "tail of blocks"


def crash_campaign(tmp_path: Path, kills: int, seed: int = 8) -> Counter:
    """Kill ``kills`` writers; check every guarantee after each kill. Returns counts of what was seen."""
    key = (kills, seed)
    if key in _DONE:
        return _DONE[key]
    rng = np.random.default_rng(seed)
    seen = Counter()
    server = WriterServer(tmp_path / "crash_writer.err")
    try:
        file_no = 0
        while seen["kills"] < kills:
            file_seed = seed * 1000 + file_no
            sync = file_no % 2 == 0
            compression = "lz4" if file_no % 4 < 2 else None
            path = tmp_path / f"crash{file_no}.knb"
            _one_file(server, path, file_seed, sync, compression, min(KILLS_PER_FILE, kills - seen["kills"]), rng,
                      seen)
            path.unlink()
            file_no += 1
            seen["files"] += 1
    finally:
        server.close()
    print(f"\ncrash campaign: {dict(sorted(seen.items()))}")
    assert seen["kills"] >= kills
    assert seen["torn tails"] >= kills // 5, seen  # most kills land inside a commit
    assert seen["repaired by repair()"] and seen["repaired by append()"], seen
    _DONE[key] = seen
    return seen


def _one_file(server, path: Path, seed: int, sync: bool, compression, kills: int, rng, seen: Counter) -> None:
    expected = ExpectedEpisodes(seed)
    n_done = 0  # episodes in the file after the last check (after repair, if any)
    end_done = None  # file size after the last check: the end of its last commit, when the tail was repaired
    # A delay up to about ten commits long: kills land before, inside and between commits.
    max_delay = 0.08 if sync else 0.04
    k = 0
    while k < kills and n_done < MAX_EPISODES_PER_FILE:
        existed = path.exists()
        events, killed = server.run_and_kill(path, seed, sync, compression, n_done + 1000,
                                             float(rng.uniform(0, max_delay)))
        reports = [n for tag, n in events if tag in "SCE"]
        if not killed:
            seen["writers that finished before the kill"] += 1
        else:
            k += 1
            seen["kills"] += 1
        # What the file may hold: the last reported commit, or one more commit whose report the kill prevented.
        if reports:
            last = reports[-1]
            assert reports[0] == n_done, f"the writer started from {reports[0]} episodes, not {n_done}"
            allowed = {last} if events[-1][0] == "E" else {last, last + CW.commit_size(seed, last)}
        else:
            seen["killed inside create/append"] += 1
            if not path.exists():
                assert not existed, "a kill inside kinonb.append removed the file"
                seen["killed inside create: no file"] += 1
                continue
            allowed = {n_done}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            db = kinonb.open(path)
        n = db.num_episodes()
        assert n in allowed, f"after kill {seen['kills']}: {n} episodes, expected one of {sorted(allowed)}"
        if reports and n != reports[-1]:
            seen["commit done, report killed"] += 1
        size = path.stat().st_size
        torn = db.ignored_bytes
        assert 0 <= torn <= size
        warned = any(issubclass(w.category, kinonb.TornTailWarning) for w in caught)
        assert warned == (torn > 0)
        if n == n_done and end_done is not None:
            assert torn == size - end_done, "the torn tail is not exactly the bytes after the last commit"
        seen["torn tails" if torn else "clean ends"] += 1
        seen[_tail_kind(path, size - torn, size)] += 1
        for i in range(n):
            assert_episode_equal(db.read_episode(i), expected[i])
        del db
        report = kinonb.validate(path, deep=seen["kills"] % 4 == 0)
        recoverable = report.recoverable_episodes or 0  # a kill after a footer was written, before its trailer
        assert report.ok == (not recoverable), report.errors
        assert (report.episodes, report.ignored_bytes) == (n, torn)
        if recoverable:
            seen["tails salvage could recover"] += 1
            with pytest.raises(kinonb.RecoverableTailError):
                kinonb.repair(path)  # repair never removes what salvage could recover, unless forced
        if torn and (recoverable or rng.random() < 0.75):
            assert kinonb.repair(path, force=bool(recoverable)) == torn
            assert path.stat().st_size == size - torn
            assert kinonb.validate(path).ignored_bytes == 0
            seen["repaired by repair()"] += 1
        elif torn:
            with pytest.raises(kinonb.TornTailError):
                kinonb.append(path)  # without repair=True, appending is refused and the file left alone
            assert path.stat().st_size == size
            seen["repaired by append()"] += 1  # the next writer's kinonb.append(repair=True) truncates it
        n_done = n
        end_done = size - torn
    # Appending after the last kill works from this process too, and every episode is still there.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with kinonb.append(path, sync=sync, compression=compression, repair=True) as w:
            assert w.num_episodes == n_done
            w.add_episode(**expected[n_done])
    db = kinonb.open(path)
    assert db.num_episodes() == n_done + 1 and db.ignored_bytes == 0
    for i in range(n_done + 1):
        assert_episode_equal(db.read_episode(i), expected[i])
    leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")]
    seen["temp files left by killed creates"] += len(leftovers)


def test_create_after_a_killed_create_with_the_same_pid(tmp_path):
    """A create killed before its rename leaves ``.NAME.kinonb-creating.PID.tmp``; a later process with the same pid (pids
    repeat, in containers above all) must still be able to create NAME."""
    path = tmp_path / "d.knb"
    stale = tmp_path / f".{path.name}.kinonb-creating.{os.getpid()}.tmp"
    stale.write_bytes(b"half a header")
    with kinonb.create(path) as w:
        w.add_episode(**CW.episode(1, 0))
    assert not stale.exists()
    assert_episode_equal(kinonb.open(path).read_episode(0), CW.episode(1, 0))


def test_crash_kill_subprocess(tmp_path):
    """G1, G2: 200 SIGKILLs at random moments (CI size); tests/test_durability.py cites the same campaign."""
    crash_campaign(tmp_path, CI_KILLS)


@pytest.mark.slow
def test_crash_kill_subprocess_soak(tmp_path):
    """G1, G2: 2000 SIGKILLs (``--run-slow``)."""
    crash_campaign(tmp_path, SLOW_KILLS, seed=9)
