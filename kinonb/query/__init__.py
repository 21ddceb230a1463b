"""KQL, the episode metadata query language: a superset of kinodb's, evaluated over numpy columns.

    >>> positions = run_query("success = true AND task CONTAINS 'drawer'", table)

The grammar, the null semantics and the differences from kinodb are in docs/kql.md.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import QueryError
from .evaluate import evaluate
from .parser import Node, parse
from .table import MISSING, MetaTable, attr_lookup, from_records

__all__ = ["MISSING", "MetaTable", "attr_lookup", "Query", "Queryable", "QueryError", "compile_query", "from_records", "run_query"]


class Query:
    """A parsed, type-checked KQL query; evaluate it on any number of tables."""

    def __init__(self, text: str, node: Node):
        self.text = text
        self.node = node

    def evaluate(self, table: MetaTable) -> np.ndarray:
        """The ascending int64 positions of the episodes in `table` that match."""
        return evaluate(self.node, table)

    def __repr__(self) -> str:
        return f"Query({self.text!r})"


def compile_query(text: str) -> Query:
    """Parse and type-check `text`; raises QueryError (a ValueError) with the position of the problem."""
    if not isinstance(text, str):
        raise QueryError(f"a KQL query must be a str, got {type(text).__name__} {text!r}; "
                         "e.g. db.query(\"success = true\")")
    return Query(text, parse(text))


def compile_cached(text: str) -> Query:
    """compile_query with an LRU cache keyed by the query text."""
    if not isinstance(text, str):  # unhashable values would fail inside the cache, not with a QueryError
        return compile_query(text)
    return _compile_cached(text)


@lru_cache(maxsize=256)
def _compile_cached(text: str) -> Query:
    return compile_query(text)


class Queryable:
    """Mixin for readers: ``query`` and ``query_positions`` over the reader's ``meta_table()``."""

    def query(self, kql: str) -> list[int]:
        """Positions of the episodes matching a KQL query, ascending (docs/kql.md)."""
        return self.query_positions(kql).tolist()

    def query_positions(self, kql: str) -> np.ndarray:
        """Like :meth:`query`, as an int64 array (no Python object per hit: faster on huge answers)."""
        return compile_cached(kql).evaluate(self.meta_table())


def run_query(text: str, table: MetaTable) -> list[int]:
    """The positions of the episodes in `table` that match `text`, ascending (what `db.query` returns)."""
    return compile_cached(text).evaluate(table).tolist()
