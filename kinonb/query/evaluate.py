"""Evaluate a parsed KQL tree over a MetaTable: one boolean numpy mask per condition, combined with & | ~.

String conditions run once per distinct string of the string table and are then gathered by id, so their
cost grows with the number of distinct tasks, not episodes. Only `attrs.<key>` values (arbitrary JSON in
object arrays) are tested element by element.
"""

from __future__ import annotations

import operator

import numpy as np

from ..format import success as success_code
from .parser import (
    ANNOTATION,
    ATTRS_PREFIX,
    BOOL,
    CAMERAS,
    NUMBER,
    ORDERING,
    TEXT,
    And,
    Condition,
    Node,
    Not,
)
from .table import MISSING, MetaTable

TOLERANCE = 1e-6  # numeric = and != (kinodb: |a - b| < 1e-6)
_ORDER = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}
_INT64 = np.iinfo(np.int64)


def evaluate(node: Node, table: MetaTable) -> np.ndarray:
    """Ascending int64 positions of the episodes that match `node`."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.flatnonzero(_mask(node, table)).astype(np.int64, copy=False)


def _mask(node: Node, table: MetaTable) -> np.ndarray:
    if isinstance(node, Condition):
        return _condition(node, table)
    if isinstance(node, Not):
        return ~_mask(node.node, table)
    masks = (_mask(child, table) for child in node.nodes)
    result = next(masks).copy()
    for mask in masks:
        if isinstance(node, And):
            result &= mask
        else:
            result |= mask
    return result


def _condition(cond: Condition, table: MetaTable) -> np.ndarray:
    if cond.op == "in":
        result = np.zeros(len(table), dtype=bool)
        for value in cond.values:
            result |= _compare(cond, "=", value, table)
        return result
    return _compare(cond, cond.op, cond.values[0], table)


def _compare(cond: Condition, op: str, value, table: MetaTable) -> np.ndarray:
    if cond.kind == NUMBER:
        return _number(getattr(table, cond.field), op, value, table.has_reward if cond.field == "total_reward" else None)
    if cond.kind == TEXT:
        ids = table.task_id if cond.field == "task" else table.embodiment_id
        return _text(table.strings, ids, op, value)
    if cond.kind == BOOL:
        return _success(table.success, op, value)
    if cond.kind == CAMERAS:
        return _cameras(table, op, value)
    if cond.kind == ANNOTATION:
        texts = _annotation_texts(table, cond.field)
        if op in ("=", "!=") and value is not None:  # any of the episode's texts is (or none is) the value
            has = np.frompyfunc(lambda x: x is not MISSING and value in x, 1, 1)(texts).astype(bool)
            return has if op == "=" else ~has
        return _attr(texts, op, value)
    return _attr(table.attrs(cond.field[len(ATTRS_PREFIX) :]), op, value)


def _annotation_texts(table: MetaTable, field: str) -> np.ndarray:
    """Per episode, the list of its instructions (``instruction``) or segment texts (``segment``); MISSING when
    it has none, so that only ``= null`` matches it."""
    values = table.attrs("instructions" if field == "instruction" else "segments")
    out = np.empty(len(values), object)
    for i, v in enumerate(values):
        if not isinstance(v, list):
            out[i] = MISSING
        elif field == "segment":
            texts = [s[2] for s in v if isinstance(s, list) and len(s) == 3 and isinstance(s[2], str)]
            out[i] = texts or MISSING
        else:
            out[i] = v or MISSING
    return out


def _number(column: np.ndarray, op: str, value, present: np.ndarray | None) -> np.ndarray:
    """A numeric column; `present` (total_reward) is False where the value is null."""
    if value is None:  # only = and != reach here with null
        is_null = np.zeros(len(column), dtype=bool) if present is None else ~present
        return is_null if op == "=" else ~is_null
    exact = column.dtype.kind in "iu" and isinstance(value, int) and _INT64.min <= value <= _INT64.max
    if not exact:
        value = float(value)
    if op == "=":
        result = column == value if exact else np.abs(column - value) < TOLERANCE
    elif op == "!=":
        result = column != value if exact else np.abs(column - value) >= TOLERANCE  # NaN: False
    else:
        result = _ORDER[op](column, value)
    return result if present is None else result & present


def _text_predicate(op: str, value: str):
    if op == "=":
        return lambda s: s == value
    if op == "!=":
        return lambda s: s != value
    needle = value.lower()  # CONTAINS and STARTSWITH ignore case (kinodb: Unicode lowercase)
    if op == "contains":
        return lambda s: needle in s.lower()
    return lambda s: s.lower().startswith(needle)


def _text(strings, ids: np.ndarray, op: str, value) -> np.ndarray:
    if value is None:  # embodiment and task are never null
        return np.full(len(ids), op == "!=")
    predicate = _text_predicate(op, value)
    hits = np.fromiter((predicate(s) for s in strings), dtype=bool, count=len(strings))
    return hits[ids]


def _success(column: np.ndarray, op: str, value) -> np.ndarray:
    code = success_code.encode(value)
    if op == "=":
        return column == code
    if op == "!=":
        return column != code  # unknown != true holds (kinodb)
    return (column != success_code.UNKNOWN) & _ORDER[op](column, code)  # false < true; unknown is not ordered


def _cameras(table: MetaTable, op: str, value: str) -> np.ndarray:
    result = np.zeros(len(table), dtype=bool)
    predicate = _text_predicate(op, value)
    for name, present in table.cameras.items():
        if predicate(name):
            result |= present
    return result


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _json_equal(x, value) -> bool:
    """JSON equality with KQL's typing: a string never equals a number, true never equals 1."""
    if isinstance(value, bool) or isinstance(value, str):
        return type(x) is type(value) and x == value
    if not _is_number(x):
        return False
    if isinstance(x, int) and isinstance(value, int):
        return x == value
    try:
        return abs(float(x) - float(value)) < TOLERANCE
    except OverflowError:  # an int beyond float range equals no float literal
        return False


def _attr_predicate(op: str, value):
    if value is None:
        is_null = lambda x: x is MISSING or x is None  # noqa: E731
        return is_null if op == "=" else lambda x: not is_null(x)
    if op == "=":
        return lambda x: _json_equal(x, value)
    if op == "!=":  # a missing or null attribute satisfies nothing but `= null`, like a missing reward
        return lambda x: x is not MISSING and x is not None and not _json_equal(x, value)
    if op in ORDERING:
        compare = _ORDER[op]
        return lambda x: _is_number(x) and compare(x, value)
    text = _text_predicate(op, value)  # CONTAINS / STARTSWITH: on a string, or on any string of a list
    return lambda x: text(x) if isinstance(x, str) else isinstance(x, list) and any(
        isinstance(e, str) and text(e) for e in x
    )


def _attr(values: np.ndarray, op: str, value) -> np.ndarray:
    predicate = _attr_predicate(op, value)
    return np.frompyfunc(predicate, 1, 1)(np.asarray(values, dtype=object)).astype(bool)
