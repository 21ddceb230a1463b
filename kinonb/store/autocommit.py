"""When a writer commits on its own (format_spec.md §15, "auto-commit"): a bound on what a crash or a cut loses.

A writer commits by itself at the end of ``add_episode`` once its pending (uncommitted) episodes reach
``autocommit_episodes``, or once their block bytes reach ``max(autocommit_bytes, F)``, where F is the size of
the footer the last commit wrote (its episode and block tables plus the attrs heap). The ``max`` keeps writing
many small episodes O(N) overall: each commit rewrites the whole footer, so commits come no more often than
once per footer's worth of new data.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidArgumentError
from ..format import layout as L

#: default ``autocommit_bytes``: pending block bytes after which a writer commits by itself.
DEFAULT_AUTOCOMMIT_BYTES = 64 << 20


def _limit(name: str, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"{name} must be a positive int or None, got {value!r}")
    return value


@dataclass(frozen=True)
class AutoCommit:
    """The auto-commit policy of one writer (None: that bound is off)."""

    max_bytes: int | None = DEFAULT_AUTOCOMMIT_BYTES
    max_episodes: int | None = None

    @classmethod
    def checked(cls, autocommit_bytes, autocommit_episodes) -> "AutoCommit":
        return cls(_limit("autocommit_bytes", autocommit_bytes), _limit("autocommit_episodes", autocommit_episodes))

    def commit_if_due(self, writer) -> None:
        """Commit ``writer`` (a :class:`kinonb.store.writer.Writer`, after its ``add_episode``) when a bound is hit."""
        if self.due(writer):
            writer.commit()

    def room(self, writer, episodes: int, nbytes: int) -> tuple[int, int]:
        """How many more episodes and block bytes ``writer`` may take before a bound is hit, at most the given."""
        if self.max_episodes is not None:
            episodes = min(episodes, self.max_episodes - writer.pending)
        if self.max_bytes is not None:
            nbytes = min(nbytes, self._bound(writer) - (L.align_up(writer._pos) - writer._committed_end))
        return max(episodes, 1), max(nbytes, 1)

    def due(self, writer) -> bool:
        """Whether ``writer`` should commit now."""
        pending = writer.pending
        if not pending:
            return False
        if self.max_episodes is not None and pending >= self.max_episodes:
            return True
        if self.max_bytes is None:
            return False
        return writer._pos - writer._committed_end >= self._bound(writer)

    def _bound(self, writer) -> int:
        """Pending block bytes that make a commit due: max(max_bytes, the last footer's size)."""
        committed = len(writer._episodes)
        footer = committed * (L.EPISODE.itemsize + L.BLOCK.itemsize * len(writer._columns)) + len(writer._attrs)
        return max(self.max_bytes, footer)
