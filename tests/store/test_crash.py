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

The edit campaign (``test_crash_kill_edits``, format 1.2) kills writers forked by this file run as
``--serve-edits`` whose commits mix ``delete_episodes``, ``set_meta``, ``add_column`` and ``trim`` with appends
(``edit_plan``). After each kill the file is at the last reported commit or the one after, equal to the model
of that commit episode for episode, ``kinonb.open(path, commit=-2)`` and a random ``commit=k`` equal theirs, and
the tail, validate and repair checks above hold.
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
    """``crash_writer.py --serve`` (or ``test_crash.py --serve-edits``): forks writers on request; read with
    timeouts so a hang fails the test."""

    def __init__(self, err_path: Path, argv=("crash_writer.py", "--serve")):
        self.err_path = err_path
        self.err = open(err_path, "wb")
        self.proc = subprocess.Popen([sys.executable, str(HERE / argv[0]), *argv[1:]],
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
        allowed = _allowed_states(reports, events, n_done, lambda last: last + CW.commit_size(seed, last), path,
                                  existed, seen)
        if allowed is None:
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            db = kinonb.open(path)
        n = db.num_episodes()
        assert n in allowed, f"after kill {seen['kills']}: {n} episodes, expected one of {sorted(allowed)}"
        if reports and n != reports[-1]:
            seen["commit done, report killed"] += 1
        for i in range(n):
            assert_episode_equal(db.read_episode(i), expected[i])
        torn = db.ignored_bytes
        del db
        end_done = _check_tail(path, n, torn, caught, end_done if n == n_done else None, rng, seen)
        n_done = n
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


def _check_tail(path: Path, n: int, torn: int, caught, end_before, rng, seen: Counter) -> int:
    """After a kill that left ``n`` episodes and ``torn`` ignored bytes (as ``kinonb.open`` found): the torn tail
    is reported (``db.ignored_bytes``, a ``TornTailWarning`` among ``caught``, ``validate``) and is exactly the
    bytes after the commit's end (which is ``end_before`` when the file holds the commit it held before this
    writer); validate passes unless salvage could recover episodes from the tail; then ``kinonb.repair`` removes
    exactly the tail, or ``kinonb.append`` refuses the file (the next writer's ``repair=True`` removes it).
    Returns the end of the file's commit."""
    size = path.stat().st_size
    assert 0 <= torn <= size
    warned = any(issubclass(w.category, kinonb.TornTailWarning) for w in caught)
    assert warned == (torn > 0)
    if end_before is not None:
        assert torn == size - end_before, "the torn tail is not exactly the bytes after the last commit"
    seen["torn tails" if torn else "clean ends"] += 1
    seen[_tail_kind(path, size - torn, size)] += 1
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
    return size - torn


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


# -- edit commits (format 1.2) under SIGKILL ----------------------------------------------------------------
#
# The same server forks writers that run ``edit_plan``: step j of a file (its commit j + 1: create writes commit 1)
# mixes deletes, set_meta, add_column, trim and appends, decided by (seed, j) and the committed episodes'
# lengths, then commits; the writer reports ``C j`` once commit() returned. A new writer reads its step from
# the file's ``commit_seq``. The test replays the same plan on a list-of-dicts model.

EDIT_CI_KILLS = 60
EDIT_SLOW_KILLS = 600
EDIT_KILLS_PER_FILE = 20
EDIT_STEPS_PER_FILE = 120  # then the next file
EDIT_TARGET = 10  # episodes the plan keeps a file near: deletes grow past it


def with_meta(ep: dict, kw: dict) -> dict:
    """The model of ``w.set_meta(p, **kw)``: fields replaced; ``attrs`` replaces the dict, then ``instructions``
    and ``segments`` set (None: remove) those keys in it."""
    out = dict(ep)
    for key in ("task", "success", "total_reward", "embodiment", "fps"):
        if key in kw:
            out[key] = kw[key]
    attrs = dict(kw["attrs"] or {}) if "attrs" in kw else dict(ep.get("attrs") or {})
    for key in ("instructions", "segments"):
        if key in kw and kw[key] is None:
            attrs.pop(key, None)
        elif key in kw:
            attrs[key] = [list(s) for s in kw[key]] if key == "segments" else list(kw[key])
    out["attrs"] = attrs
    return out


def with_column(ep: dict, name: str, arr, camera: bool = False) -> dict:
    """The model of ``w.add_column(p, name, arr)``: a fixed role, a camera's frames, or an extra column."""
    out = dict(ep)
    if camera:
        out["images"] = {**(ep.get("images") or {}), name: arr}
    elif name in ("actions", "states", "rewards", "is_terminal"):
        out[name] = arr
    else:
        out["columns"] = {**(ep.get("columns") or {}), name: arr}
    return out


def trimmed(ep: dict, start: int, end: int) -> dict:
    """The model of ``w.trim(p, start, end)``: every per-frame column sliced (states and extra columns keep
    their T + 1th row), segments clipped and renumbered from 0."""
    t = len(ep["actions"])

    def cut(arr):
        return None if arr is None else arr[start : end + (len(arr) - t)].copy()

    out = dict(ep)
    for key in ("actions", "states", "rewards", "is_terminal"):
        if key in ep:
            out[key] = cut(ep[key])
    if ep.get("images"):
        out["images"] = {name: frames[start:end].copy() for name, frames in ep["images"].items()}
    if ep.get("columns"):
        out["columns"] = {name: cut(arr) for name, arr in ep["columns"].items()}
    attrs = dict(ep.get("attrs") or {})
    if "segments" in attrs:
        segs = [[max(a, start) - start, min(b, end) - start, text] for a, b, text in attrs["segments"]]
        attrs["segments"] = [s for s in segs if s[0] < s[1]]
    out["attrs"] = attrs
    return out


def edit_plan(seed: int, j: int, lengths: list) -> list:
    """The calls of step j, for committed episodes of these lengths: ``("set_meta", p, kw)``, ``("add_column",
    p, name, array)``, ``("trim", p, start, end)``, ``("delete", [p, ...])``, ``("add", kwargs)``, in that order.
    Never empty, never refused."""
    rng = np.random.default_rng([seed, j, 12])
    n = len(lengths)
    kinds = set() if n == 0 or rng.random() < 0.2 else set(
        rng.choice(["set_meta", "add_column", "trim", "delete"], size=int(rng.integers(1, 4)), replace=False))
    ops, written = [], set()
    if "set_meta" in kinds:
        for p in rng.choice(n, size=min(n, int(rng.integers(1, 3))), replace=False).tolist():
            t = lengths[p]
            kw = {}
            for key in rng.choice(["task", "success", "total_reward", "attrs", "instructions", "segments"],
                                  size=int(rng.integers(1, 4)), replace=False).tolist():
                if key == "task":
                    kw[key] = f"relabelled {j}"
                elif key == "success":
                    kw[key] = [None, True, False][int(rng.integers(3))]
                elif key == "total_reward":
                    kw[key] = None if rng.random() < 0.3 else float(rng.integers(-50, 50)) / 4
                elif key == "attrs":
                    kw[key] = None if rng.random() < 0.2 else {"j": j, "op": "crash"}
                elif key == "instructions":
                    kw[key] = None if rng.random() < 0.2 else [f"do {j}", "then stop"]
                else:
                    a = int(rng.integers(0, t))
                    kw[key] = None if rng.random() < 0.2 else [(a, int(rng.integers(a + 1, t + 1)), f"seg {j}")]
            ops.append(("set_meta", p, kw))
    if "add_column" in kinds:
        for p in rng.choice(n, size=min(n, int(rng.integers(1, 3))), replace=False).tolist():
            t = lengths[p]
            name = ["rewards", "score", "cam"][int(rng.integers(3))]
            if name == "cam":
                arr = rng.integers(0, 256, (t, 12, 12, 3), dtype=np.uint8)
            else:
                rows = t + int(name == "score" and rng.random() < 0.5)  # an extra column may hold T + 1 rows
                arr = rng.standard_normal(rows).astype(np.float32)
            ops.append(("add_column", p, name, arr))
            written.add(p)
    if "trim" in kinds:
        can = [p for p in range(n) if p not in written and lengths[p] > 1]
        for p in rng.choice(can, size=min(len(can), int(rng.integers(1, 3))), replace=False).tolist():
            t = lengths[p]
            start = int(rng.integers(0, t))
            end = int(rng.integers(start + 1, t + 1))
            if (start, end) == (0, t):  # that trim changes nothing (and records no edit)
                start, end = (1, t) if rng.random() < 0.5 else (0, t - 1)
            ops.append(("trim", p, start, end))
    if "delete" in kinds:
        k = int(rng.integers(1, 4 if n > EDIT_TARGET else 2))
        ops.append(("delete", sorted(rng.choice(n, size=min(n, k), replace=False).tolist())))
    if not ops or rng.random() < 0.6 or n < EDIT_TARGET // 2:
        for i in range(int(rng.integers(1, 3))):
            ops.append(("add", CW.episode(seed, 3 * j + i)))
    return ops


def apply_plan(episodes: list, ops: list) -> list:
    """The committed episodes after a step's calls (positions: those before it; its deletes apply last)."""
    view, deleted, added = list(episodes), set(), []
    for op in ops:
        if op[0] == "set_meta":
            view[op[1]] = with_meta(view[op[1]], op[2])
        elif op[0] == "add_column":
            view[op[1]] = with_column(view[op[1]], op[2], op[3], camera=op[2] == "cam")
        elif op[0] == "trim":
            view[op[1]] = trimmed(view[op[1]], op[2], op[3])
        elif op[0] == "delete":
            deleted.update(op[1])
        else:
            added.append(op[1])
    return [ep for p, ep in enumerate(view) if p not in deleted] + added


def run_plan_step(w, ops: list) -> None:
    for op in ops:
        if op[0] == "set_meta":
            w.set_meta(op[1], **op[2])
        elif op[0] == "add_column":
            w.add_column(op[1], op[2], op[3])
        elif op[0] == "trim":
            w.trim(op[1], op[2], op[3])
        elif op[0] == "delete":
            w.delete_episodes(op[1])
        else:
            w.add_episode(**op[1])
    w.commit()


class PlannedStates(list):
    """``self[j]``: the model of a file after j steps of ``edit_plan`` (``self[0]``: create's empty commit)."""

    def __init__(self, seed: int):
        super().__init__([[]])
        self.seed = seed

    def plan(self, j: int) -> list:
        """The calls of step j (from the model's state before it)."""
        return edit_plan(self.seed, j, [len(ep["actions"]) for ep in self.at(j)])

    def at(self, j: int) -> list:
        while len(self) <= j:
            self.append(apply_plan(self[-1], self.plan(len(self) - 1)))
        return self[j]


def edit_until_killed(path: str, seed: int, sync: bool, compression, limit: int) -> None:
    """The forked writer of the edit campaign (``--serve-edits``): steps of ``edit_plan`` until ``limit``."""
    import kinonb

    CW._say("P", os.getpid())
    w = CW.open_writer(path, compression, sync)
    db = kinonb.open(path)
    j = db.commit_seq - 1
    lengths = [int(db.read_meta(i)["num_frames"]) for i in range(db.num_episodes())]
    del db
    CW._say("S", j)
    while j < limit:
        ops = edit_plan(seed, j, lengths)
        run_plan_step(w, ops)
        j += 1
        CW._say("C", j)
        lengths = _next_lengths(lengths, ops)
    w.close()
    CW._say("E", j)


def _next_lengths(lengths: list, ops: list) -> list:
    """The committed episodes' lengths after a step (what ``apply_plan`` does to them)."""
    out, deleted = list(lengths), set()
    for op in ops:
        if op[0] == "trim":
            out[op[1]] = op[3] - op[2]
        elif op[0] == "delete":
            deleted.update(op[1])
    return [t for p, t in enumerate(out) if p not in deleted] + [len(op[1]["actions"]) for op in ops
                                                                  if op[0] == "add"]


def _warm_edits() -> None:
    """The edit calls once before any fork (see ``crash_writer._load_kernels``): small arrays, no threads."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "warm.knb")
        for compression in (None, "lz4"):
            with kinonb.create(path, sync=False, compression=compression, overwrite=True) as w:
                for k in range(3):
                    w.add_episode(**CW.episode(0, k))
            with kinonb.append(path, sync=False, compression=compression) as w:
                run_plan_step(w, [("set_meta", 0, {"task": "x", "segments": [(0, 1, "s")]}),
                                  ("add_column", 1, "score", np.zeros(len(CW.episode(0, 1)["actions"]), np.float32)),
                                  ("trim", 2, 0, 1), ("delete", [0])])
            kinonb.open(path, commit=-2).read_episode(0)


def edit_campaign(tmp_path: Path, kills: int, seed: int = 21) -> Counter:
    """Kill ``kills`` writers of edit commits; check every guarantee after each kill. Returns what was seen."""
    key = ("edits", kills, seed)
    if key in _DONE:
        return _DONE[key]
    rng = np.random.default_rng(seed)
    seen = Counter()
    server = WriterServer(tmp_path / "edit_writer.err", argv=("test_crash.py", "--serve-edits"))
    try:
        file_no = 0
        while seen["kills"] < kills:
            path = tmp_path / f"edits{file_no}.knb"
            _one_edit_file(server, path, seed * 1000 + file_no, file_no % 2 == 0,
                           "lz4" if file_no % 4 < 2 else None, min(EDIT_KILLS_PER_FILE, kills - seen["kills"]),
                           rng, seen)
            path.unlink()
            file_no += 1
            seen["files"] += 1
    finally:
        server.close()
    print(f"\nedit crash campaign: {dict(sorted(seen.items()))}")
    assert seen["kills"] >= kills
    assert seen["torn tails"] >= kills // 5, seen
    assert seen["file at an edit commit"] >= kills // 5 and seen["torn tails of an edit step"] >= kills // 10, seen
    assert seen["repaired by repair()"] and seen["repaired by append()"], seen
    _DONE[key] = seen
    return seen


def _allowed_states(reports, events, done, next_after, path: Path, existed: bool, seen: Counter):
    """What the file may hold after a kill: the last state the writer reported, or the next one when the kill came
    before its report (``next_after(last)``); None when the kill left no file (a create cut short)."""
    if reports:
        last = reports[-1]
        assert reports[0] == done, f"the writer started from {reports[0]}, not {done}"
        return {last} if events[-1][0] == "E" else {last, next_after(last)}
    seen["killed inside create/append"] += 1
    if not path.exists():
        assert not existed, "a kill inside kinonb.append removed the file"
        seen["killed inside create: no file"] += 1
        return None
    return {done}


def _one_edit_file(server, path: Path, seed: int, sync: bool, compression, kills: int, rng, seen: Counter) -> None:
    states = PlannedStates(seed)
    j_done, end_done = 0, None  # the file's step after the last check, and the end of its commit
    max_delay = 0.12 if sync else 0.06
    k = 0
    while k < kills and j_done < EDIT_STEPS_PER_FILE:
        existed = path.exists()
        events, killed = server.run_and_kill(path, seed, sync, compression, j_done + 1000,
                                             float(rng.uniform(0, max_delay)))
        reports = [j for tag, j in events if tag in "SCE"]
        if killed:
            k += 1
            seen["kills"] += 1
        else:
            seen["writers that finished before the kill"] += 1
        allowed = _allowed_states(reports, events, j_done, lambda last: last + 1, path, existed, seen)
        if allowed is None:
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            db = kinonb.open(path)
        j = db.commit_seq - 1
        assert j in allowed, f"after kill {seen['kills']}: the file is at step {j}, expected one of {sorted(allowed)}"
        if reports and j != reports[-1]:
            seen["commit done, report killed"] += 1
        if j > 0 and any(op[0] != "add" for op in states.plan(j - 1)):
            seen["file at an edit commit"] += 1
        want = states.at(j)
        _same_file(db, want)
        if j > 0:  # the commit before: what a reader pinned to it reads
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _same_file(kinonb.open(path, commit=-2), states.at(j - 1))
                back = int(rng.integers(1, j + 2))
                _same_file(kinonb.open(path, commit=back), states.at(back - 1))
        torn = db.ignored_bytes
        del db
        if torn and any(op[0] != "add" for op in states.plan(j)):
            seen["torn tails of an edit step"] += 1  # the kill landed in step j's edits, appends or commit
        end_done = _check_tail(path, len(want), torn, caught, end_done if j == j_done else None, rng, seen)
        j_done = j
    # After the last kill this process edits and appends, and every commit still reads back.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with kinonb.append(path, sync=sync, compression=compression, repair=True) as w:
            run_plan_step(w, states.plan(j_done))
    db = kinonb.open(path)
    assert db.ignored_bytes == 0 and db.commit_seq == j_done + 2
    _same_file(db, states.at(j_done + 1))
    assert kinonb.validate(path, deep=True).ok


def _same_file(db, episodes: list) -> None:
    assert db.num_episodes() == len(episodes)
    for i, ep in enumerate(episodes):
        assert_episode_equal(db.read_episode(i), ep)


def test_crash_kill_edits(tmp_path):
    """G1, G2 for edit commits: 60 SIGKILLs of writers that delete, relabel, add columns, trim and append."""
    edit_campaign(tmp_path, EDIT_CI_KILLS)


@pytest.mark.slow
def test_crash_kill_edits_soak(tmp_path):
    """The edit campaign with 600 SIGKILLs (``--run-slow``)."""
    edit_campaign(tmp_path, EDIT_SLOW_KILLS, seed=22)


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve-edits"]:
        # crash_writer's server loop, forking edit_until_killed instead of its append-only writer.
        _warm_edits()
        CW.write_until_killed = edit_until_killed
        CW.serve()
    else:
        sys.exit("usage: python tests/store/test_crash.py --serve-edits   (driven by test_crash_kill_edits)")
