"""Format 1.1 episodes through the writer and reader against a plain list-of-dicts model (issue 13 req 9).

The machine lives in :mod:`kinonb.testing.stateful`. Half the profile's examples: each one writes a file."""

from hypothesis import settings

from kinonb.testing.stateful import Knb11Machine

TestKnb11Machine = Knb11Machine.TestCase
TestKnb11Machine.settings = settings(max_examples=max(1, settings().max_examples // 2), stateful_step_count=20,
                                     deadline=None)
