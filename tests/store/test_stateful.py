"""The writer and reader against a plain list-of-dicts model: create, append, commit, abort, reopen, refresh.

The machine lives in :mod:`kinonb.testing.stateful`."""

from hypothesis import settings

from kinonb.testing.stateful import KnbMachine

TestKnbMachine = KnbMachine.TestCase
TestKnbMachine.settings = settings(stateful_step_count=25, deadline=None)
