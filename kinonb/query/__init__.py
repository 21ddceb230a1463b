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
from .table import MISSING, MetaTable, from_records

__all__ = ["MISSING", "MetaTable", "Query", "QueryError", "compile_query", "from_records", "run_query"]


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
    return Query(text, parse(text))


@lru_cache(maxsize=256)
def compile_cached(text: str) -> Query:
    """compile_query with an LRU cache keyed by the query text."""
    return compile_query(text)


def run_query(text: str, table: MetaTable) -> list[int]:
    """The positions of the episodes in `table` that match `text`, ascending (what `db.query` returns)."""
    return compile_cached(text).evaluate(table).tolist()
