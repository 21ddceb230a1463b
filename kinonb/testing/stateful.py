"""A hypothesis state machine: the writer and reader against a plain list-of-dicts model.

Rules create, append, commit, abort, close, reopen for append, open a reader and refresh it; after every step
the open reader must match the snapshot it was opened (or refreshed) at, and at teardown a fresh reader must
see exactly the committed episodes. Run it from a test module::

    from hypothesis import settings
    from kinonb.testing.stateful import KnbMachine

    TestKnbMachine = KnbMachine.TestCase
    TestKnbMachine.settings = settings(stateful_step_count=25, deadline=None)
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

import kinonb

from .equality import (
    assert_episode_equal,
    episode_length,
    file_keys,
    same_bits,
    stored_dtypes,
)
from .strategies import episodes_1_1, file_schemas_1_1


class KnbMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "m.knb"
        self.committed: list[dict] = []  # the model: what a fresh reader must see
        self.pending: list[dict] = []
        self.writer = None
        self.reader = None
        self.reader_view: list[dict] = []  # what the open reader's snapshot holds

    @initialize(compression=st.sampled_from([None, "lz4"]))
    def create(self, compression):
        self.writer = kinonb.create(self.path, compression=compression, sync=False)

    @rule(t=st.integers(1, 6), value=st.integers(0, 9), with_image=st.booleans(), success=st.sampled_from([None, True, False]))
    @precondition(lambda self: self.writer is not None)
    def add(self, t, value, with_image, success):
        ep = dict(actions=np.full((t, 2), value, np.float32), task=f"t{value}", success=success,
                  attrs={"v": value})
        if with_image:
            ep["images"] = {"cam": np.full((t, 3, 2, 3), value, np.uint8)}
        self.writer.add_episode(**ep)
        self.pending.append(ep)

    @rule()
    @precondition(lambda self: self.writer is not None)
    def commit(self):
        self.writer.commit()
        self.committed += self.pending
        self.pending = []

    @rule()
    @precondition(lambda self: self.writer is not None)
    def abort(self):
        self.writer.abort()
        self.pending = []

    @rule()
    @precondition(lambda self: self.writer is not None)
    def close(self):
        self.writer.close()
        self.committed += self.pending
        self.pending = []
        self.writer = None

    @rule()
    @precondition(lambda self: self.writer is None)
    def reopen_for_append(self):
        self.writer = kinonb.append(self.path, sync=False)

    @rule()
    def open_reader(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.reader = kinonb.open(self.path)
        self.reader_view = list(self.committed)

    @rule()
    @precondition(lambda self: self.reader is not None)
    def refresh(self):
        self.reader.refresh()
        self.reader_view = list(self.committed)

    @invariant()
    def reader_matches_its_snapshot(self):
        if self.reader is None:
            return
        assert self.reader.num_episodes() == len(self.reader_view)
        for i in sorted({0, len(self.reader_view) - 1}) if self.reader_view else []:
            assert_episode_equal(self.reader.read_episode(i), self.reader_view[i])

    def teardown(self):
        if self.writer is not None:
            self.writer.close()
            self.committed += self.pending
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            db = kinonb.open(self.path)
        assert db.num_episodes() == len(self.committed)
        for i, ep in enumerate(self.committed):
            assert_episode_equal(db.read_episode(i), ep)
        self.dir.cleanup()


def _as_seconds(times) -> np.ndarray:
    times = np.asarray(times)
    return times if times.dtype == np.float64 else times.astype(np.float64) * 1e-9


class Knb11Machine(RuleBasedStateMachine):
    """Format 1.1 episodes (mixed widths and dtypes, optional actions, T + 1 rows, timestamps, streams, episode
    arrays, per-episode camera resolutions) through create, add, commit, abort, close, append, refresh, against
    a list-of-dicts model; plus KQL ``action_dim``/``state_dim``, ``frames`` and ``time_blocks`` reads."""

    def __init__(self):
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "m.knb"
        self.committed: list[dict] = []
        self.pending: list[dict] = []
        self.writer = self.reader = None
        self.reader_view: list[dict] = []

    @initialize(schema=file_schemas_1_1())
    def create(self, schema):
        self.schema = schema
        self.writer = kinonb.create(self.path, compression=schema["compression"], sync=False,
                                    dtypes=schema["request"])

    @rule(data=st.data())
    @precondition(lambda self: self.writer is not None)
    def add(self, data):
        model = self.committed + self.pending
        established = frozenset(k for k in ("actions", "states", "rewards") if any(k in ep for ep in model))
        ep = data.draw(episodes_1_1(self.schema, established=established))
        assert self.writer.add_episode(**ep) == len(model)
        self.pending.append(ep)

    @rule()
    @precondition(lambda self: self.writer is not None)
    def commit(self):
        self.writer.commit()
        self.committed += self.pending
        self.pending = []

    @rule()
    @precondition(lambda self: self.writer is not None)
    def abort(self):
        self.writer.abort()
        self.pending = []

    @rule()
    @precondition(lambda self: self.writer is not None)
    def close(self):
        self.writer.close()
        self.committed += self.pending
        self.pending, self.writer = [], None

    @rule()
    @precondition(lambda self: self.writer is None)
    def reopen_for_append(self):
        self.writer = kinonb.append(self.path, sync=False, compression=self.schema["compression"],
                                    dtypes=self.schema["request"])

    @rule()
    def open_reader(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.reader = kinonb.open(self.path)
        self.reader_view = list(self.committed)

    @rule()
    @precondition(lambda self: self.reader is not None)
    def refresh(self):
        self.reader.refresh()
        self.reader_view = list(self.committed)

    @rule(key=st.sampled_from(["action_dim", "state_dim"]), width=st.integers(0, 5))
    @precondition(lambda self: self.reader is not None)
    def query_dims(self, key, width):
        role = "actions" if key == "action_dim" else "states"
        dims = [0 if ep.get(role) is None else ep[role].shape[1] for ep in self.reader_view]
        assert self.reader.query(f"{key} = {width}") == [i for i, d in enumerate(dims) if d == width]
        assert self.reader.query(f"{key} > 0") == [i for i, d in enumerate(dims) if d > 0]

    @rule(data=st.data())
    @precondition(lambda self: self.reader is not None and self.reader_view)
    def frames(self, data):
        i = data.draw(st.integers(0, len(self.reader_view) - 1))
        ep = self.reader_view[i]
        arrays = _per_frame(ep, stored_dtypes(self.reader_view, self.schema["request"]))
        key = data.draw(st.sampled_from(sorted(arrays)))
        n = len(arrays[key])
        a, b = sorted(data.draw(st.tuples(st.integers(0, n + 1), st.integers(0, n + 1))))
        assert same_bits(self.reader.frames(i, key, a, b), arrays[key][a:b]), key
        assert same_bits(self.reader.frames(i, key), arrays[key]), key

    @rule(data=st.data())
    @precondition(lambda self: self.reader is not None and self.reader_view)
    def time_blocks(self, data):
        key = data.draw(st.sampled_from([None, *self.schema["streams"]]))
        if key is None:
            eps = [i for i, ep in enumerate(self.reader_view) if ep.get("timestamps") is not None or ep["fps"] > 0]
        elif key not in self.reader.stream_names():  # no committed episode of this snapshot has that stream yet
            try:
                self.reader.time_blocks(key, np.zeros(0, np.int64))
            except kinonb.InvalidArgumentError as e:
                assert "is not a stream" in str(e), e
            else:
                raise AssertionError(f"time_blocks({key!r}) on a snapshot without that stream did not raise")
            return
        else:
            eps = [i for i, ep in enumerate(self.reader_view) if key in (ep.get("streams") or {})]
        eps = data.draw(st.lists(st.sampled_from(eps), max_size=4)) if eps else []
        times, starts, lengths = self.reader.time_blocks(key, np.array(eps, np.int64))
        want = [_clock(self.reader_view[i], key) for i in eps]
        assert lengths.tolist() == [len(w) for w in want]
        assert starts.tolist() == np.concatenate([[0], np.cumsum(lengths)[:-1]]).tolist()[: len(eps)]
        assert times.dtype == np.float64
        np.testing.assert_allclose(times, np.concatenate(want) if want else np.zeros(0), rtol=1e-15, atol=0)

    @invariant()
    def reader_matches_its_snapshot(self):
        if self.reader is None:
            return
        assert self.reader.num_episodes() == len(self.reader_view)
        for i in sorted({0, len(self.reader_view) - 1}) if self.reader_view else []:
            self._check(self.reader, self.reader_view, i)

    def _check(self, db, view, i):
        assert_episode_equal(db.read_episode(i), view[i], dtypes=stored_dtypes(view, self.schema["request"]),
                             keys=file_keys(view))

    def teardown(self):
        if self.writer is not None:
            self.writer.close()
            self.committed += self.pending
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            db = kinonb.open(self.path)
        assert db.num_episodes() == len(self.committed)
        for i in range(len(self.committed)):
            self._check(db, self.committed, i)
        report = kinonb.validate(self.path, deep=True)
        assert report.ok, report.errors
        self.dir.cleanup()


def _clock(ep: dict, key) -> np.ndarray:
    """The times time_blocks gives for one episode: a stream's, else the frame clock (timestamps or frame/fps)."""
    if key is not None:
        return _as_seconds(ep["streams"][key][0])
    if ep.get("timestamps") is not None:
        return _as_seconds(ep["timestamps"])
    return np.arange(episode_length(ep), dtype=np.float64) / np.float64(ep["fps"])


def _per_frame(ep: dict, dtypes: dict) -> dict:
    """Each per-frame array of a written episode under its ``db.frames`` key, in its stored dtype."""
    out = {key: np.asarray(ep[key]).astype(dtypes[key]) for key in ("actions", "states", "rewards")
           if ep.get(key) is not None}
    out.update({key: ep[key] for key in ("is_terminal", "timestamps") if ep.get(key) is not None})
    out.update(ep.get("columns") or {})
    out.update(ep.get("images") or {})
    out.update({name: values for name, (_, values) in (ep.get("streams") or {}).items()})
    return out
