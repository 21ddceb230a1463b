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

from .equality import assert_episode_equal


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
