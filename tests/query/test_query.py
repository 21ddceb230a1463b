"""KQL: parser errors, semantics, and hypothesis comparisons against a plain-Python model over read_meta dicts."""

from __future__ import annotations

import operator
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kinonb.errors import QueryError
from kinonb.query import MISSING, MetaTable, compile_query, from_records, run_query

# ---------------------------------------------------------------------------------------------------------------
# The model: a query as a small tree, rendered to KQL text and evaluated by plain Python over read_meta dicts.
# It shares no code with kinonb.query. Nodes: ("cond", field, op, value, text), ("not", n), ("and"|"or", [n...]).

NUMERIC = ["episode_id", "num_frames", "fps", "action_dim", "state_dim", "total_reward"]
ORDER = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}
_ABSENT = object()


def _num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _text_op(op, value):
    if op == "=":
        return lambda s: s == value
    if op == "!=":
        return lambda s: s != value
    if op == "contains":
        return lambda s: value.lower() in s.lower()
    return lambda s: s.lower().startswith(value.lower())


def model_condition(meta, field, op, value):
    if op == "in":
        return any(model_condition(meta, field, "=", v) for v in value)
    if field in NUMERIC:
        x = meta[field]
        if value is None:
            return (x is None) == (op == "=")
        if x is None:
            return False
        if op == "=":
            return abs(x - value) < 1e-6
        if op == "!=":
            return abs(x - value) >= 1e-6
        return ORDER[op](x, value)
    if field in ("embodiment", "task"):
        return op == "!=" if value is None else _text_op(op, value)(meta[field])
    if field == "success":
        x = meta["success"]
        if op == "=":
            return x is value
        if op == "!=":
            return x is not value
        return x is not None and ORDER[op](x, value)
    if field == "cameras":
        return any(_text_op(op, value)(name) for name in meta["cameras"])
    x = meta["attrs"].get(field[len("attrs.") :], _ABSENT)
    null = x is _ABSENT or x is None
    if value is None:
        return null == (op == "=")
    if null:
        return False

    def equal(a):
        if isinstance(value, (bool, str)):
            return type(a) is type(value) and a == value
        return _num(a) and abs(a - value) < 1e-6

    if op == "=":
        return equal(x)
    if op == "!=":
        return not equal(x)
    if op in ORDER:
        return _num(x) and ORDER[op](x, value)
    strings = [x] if isinstance(x, str) else [e for e in x if isinstance(e, str)] if isinstance(x, list) else []
    return any(_text_op(op, value)(s) for s in strings)


def model_eval(node, meta):
    kind = node[0]
    if kind == "cond":
        return model_condition(meta, node[1], node[2], node[3])
    if kind == "not":
        return not model_eval(node[1], meta)
    results = [model_eval(child, meta) for child in node[1]]
    return all(results) if kind == "and" else any(results)


def model_query(node, metas):
    return [i for i, meta in enumerate(metas) if model_eval(node, meta)]


def render(node, draw_bool) -> str:
    """KQL text with only the parentheses precedence needs (NOT > AND > OR), plus some redundant ones."""
    kind = node[0]
    if kind == "cond":
        text = node[4]
    elif kind == "not":
        child = render(node[1], draw_bool)
        text = f"{_case('NOT', draw_bool)} " + (f"({child})" if node[1][0] in ("and", "or") else child)
    else:
        parts = []
        for child in node[1]:
            part = render(child, draw_bool)
            parts.append(f"({part})" if kind == "and" and child[0] == "or" else part)
        text = f" {_case(kind.upper(), draw_bool)} ".join(parts)
    return f"({text})" if draw_bool() and draw_bool() else text


def _case(word, draw_bool):
    return word.lower() if draw_bool() else word


# ---------------------------------------------------------------------------------------------------------------
# Random data shaped like read_meta (+ state_dim, cameras, attrs), and queries over the same value pools.

EMBODIMENTS = ["franka", "Franka", "ur5", "widowx", "ロボット_arm", "panda"]
TASKS = ["open the drawer", "Open the DRAWER", "pick up the red block", "", "café au lait", "push the T block"]
CAMERAS = ["front", "wrist", "observation.images.top"]
FPS = [10.0, 15.0, 29.969999313354492, 30.0]
REWARDS = [None, 0.0, 0.5, 1.0, 20.382663726806641, -1.0]
ATTR_KEYS = ["operator", "quality", "tags"]
ATTR_VALUES = ["alice", "Bob", "5", 5, 5.0000001, 2.5, -3, True, False, None, ["a", "Wrist"], {"x": 1}, 10**30]

attr_values = st.sampled_from(ATTR_VALUES)
metas_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "embodiment": st.sampled_from(EMBODIMENTS),
            "task": st.sampled_from(TASKS),
            "num_frames": st.integers(1, 200),
            "fps": st.sampled_from(FPS),
            "action_dim": st.sampled_from([2, 7, 14]),
            "state_dim": st.sampled_from([0, 5, 60]),
            "success": st.sampled_from([True, False, None]),
            "total_reward": st.sampled_from(REWARDS) | st.floats(-50, 50, width=32),
            "cameras": st.lists(st.sampled_from(CAMERAS), unique=True, max_size=3),
            "attrs": st.dictionaries(st.sampled_from(ATTR_KEYS), attr_values, max_size=3),
        }
    ),
    max_size=25,
).map(lambda ms: [{"episode_id": i, **m} for i, m in enumerate(ms)])

KEYWORDS = {"and", "or", "not", "in", "contains", "startswith", "true", "false", "null", "none"}


@st.composite
def string_literals(draw, pool):
    """(value, text): quoted with either quote, or a bare word when it is one."""
    value = draw(st.sampled_from(pool) | st.text("abcdRW ", max_size=4))
    bare = re.fullmatch(r"[^\W\d][\w.]*", value) and value.lower() not in KEYWORDS
    quotes = [q for q in "'\"" if q not in value] + (["bare"] if bare else [])
    quote = draw(st.sampled_from(quotes))
    return value, value if quote == "bare" else f"{quote}{value}{quote}"


@st.composite
def number_literals(draw, field):
    pools = {
        "fps": FPS,
        "total_reward": [r for r in REWARDS if r is not None],
        "num_frames": [1, 50, 100, 200],
    }
    value = draw(st.sampled_from(pools.get(field, [0, 2, 5, 7, 14, 60])) | st.integers(-5, 210) | st.floats(-60, 60))
    text = repr(value)
    if field in NUMERIC and draw(st.integers(0, 9)) == 0:  # a quoted number is compared as that number
        text = f"'{text}'"
    return value, text


def _null(draw):
    return None, draw(st.sampled_from(["null", "none", "NULL", "None"]))


@st.composite
def conditions(draw):
    field = draw(st.sampled_from(["embodiment", "task", "success", "cameras", "attrs"] + NUMERIC))
    if field == "attrs":
        key = draw(st.sampled_from(ATTR_KEYS + ["absent"]))
        field_text = field = f"attrs.{key}"
    else:
        field_text = draw(st.sampled_from([field, field.upper()]))

    if field in NUMERIC:
        ops = ["=", "!=", ">", "<", ">=", "<=", "in"]
    elif field in ("embodiment", "task"):
        ops = ["=", "!=", "contains", "startswith", "in"]
    elif field == "success":
        ops = ["=", "!=", ">", "<", ">=", "<=", "in"]
    elif field == "cameras":
        ops = ["contains", "startswith"]
    else:
        ops = ["=", "!=", ">", "<", ">=", "<=", "contains", "startswith", "in"]
    op = draw(st.sampled_from(ops))

    def literal(op):
        nullable = op in ("=", "!=")
        if field in NUMERIC:
            return _null(draw) if nullable and draw(st.integers(0, 5)) == 0 else draw(number_literals(field))
        if field in ("embodiment", "task", "cameras"):
            pool = {"embodiment": EMBODIMENTS, "task": TASKS + ["drawer", "RED", "Caf"], "cameras": CAMERAS + ["top"]}
            if nullable and draw(st.integers(0, 5)) == 0:
                return _null(draw)
            return draw(string_literals(pool[field]))
        if field == "success":
            if nullable and draw(st.booleans()):
                return _null(draw)
            value = draw(st.booleans())
            return value, draw(st.sampled_from([str(value).lower(), str(value).upper()]))
        # attrs
        if op in (">", "<", ">=", "<="):
            return draw(number_literals(field))
        if op in ("contains", "startswith"):
            return draw(string_literals(["ali", "b", "wrist", "5"]))
        choice = draw(st.integers(0, 3))
        if choice == 0:
            return draw(string_literals(["alice", "Bob", "5"]))
        if choice == 1:
            value = draw(st.sampled_from([5, 5.0, 2.5, -3, 0]))
            return value, repr(value)
        if choice == 2:
            value = draw(st.booleans())
            return value, str(value).lower()
        return _null(draw)

    if op == "in":
        items = [literal("=") for _ in range(draw(st.integers(1, 3)))]
        value = [v for v, _ in items]
        text = f"{field_text} {draw(st.sampled_from(['IN', 'in']))} (" + ", ".join(t for _, t in items) + ")"
    else:
        value, value_text = literal(op)
        op_text = op.upper() if op in ("contains", "startswith") else op
        text = f"{field_text} {op_text} {value_text}"
    return ("cond", field, op, value, text)


queries = st.recursive(
    conditions(),
    lambda children: st.tuples(st.just("not"), children)
    | st.tuples(st.sampled_from(["and", "or"]), st.lists(children, min_size=2, max_size=3)),
    max_leaves=6,
)


@given(metas=metas_strategy, node=queries, data=st.data())
def test_matches_plain_python_model(metas, node, data):
    text = render(node, lambda: data.draw(st.booleans()))
    table = from_records(metas)
    assert run_query(text, table) == model_query(node, metas), text


# ---------------------------------------------------------------------------------------------------------------
# Arbitrary input: a list or a QueryError, never anything else.

SOUP = [
    "task", "num_frames", "success", "total_reward", "attrs.x", "cameras", "bogus", "AND", "or", "NOT", "IN",
    "CONTAINS", "startswith", "=", "!=", ">=", "<", "(", ")", ",", "'a'", '"b', "'", "5", "-1.5", "1e3", "1.2.3",
    "true", "null", "franka", " ", "!", "-", "é", "\x00",
]  # fmt: skip

SMALL = from_records(
    [
        {"episode_id": 0, "embodiment": "franka", "task": "open the drawer", "num_frames": 50, "fps": 10.0,
         "action_dim": 7, "success": True, "total_reward": 1.0, "attrs": {"x": "a"}},
        {"episode_id": 1, "embodiment": "ur5", "task": "pick", "num_frames": 5, "fps": 10.0,
         "action_dim": 7, "success": None, "total_reward": None, "cameras": ["wrist"]},
    ]
)  # fmt: skip


@given(st.text(max_size=60) | st.lists(st.sampled_from(SOUP), max_size=12).map(" ".join))
def test_arbitrary_text_gives_list_or_query_error(text):
    try:
        result = run_query(text, SMALL)
    except QueryError as error:
        assert error.position is None or 0 <= error.position <= len(text)
    else:
        assert isinstance(result, list) and result == sorted(set(result))


# ---------------------------------------------------------------------------------------------------------------
# Precedence: NOT > AND > OR, parentheses override.

EIGHT = from_records(
    [
        {"episode_id": i, "embodiment": "e", "task": "t", "fps": 10.0, "action_dim": 7, "num_frames": i,
         "success": None, "total_reward": None}
        for i in range(8)
    ]
)  # fmt: skip
A, B, C = "num_frames IN (1, 3, 5, 7)", "num_frames IN (2, 3, 6, 7)", "num_frames >= 4"  # bits 0, 1, 2 of i


def _ids(text):
    return set(run_query(text, EIGHT))


@pytest.mark.parametrize(
    "text, expected",
    [
        (f"{A} OR {B} AND {C}", lambda a, b, c: a or (b and c)),
        (f"{A} AND {B} OR {C}", lambda a, b, c: (a and b) or c),
        (f"NOT {A} AND {B}", lambda a, b, c: (not a) and b),
        (f"NOT {A} OR {B}", lambda a, b, c: (not a) or b),
        (f"NOT ({A} OR {B})", lambda a, b, c: not (a or b)),
        (f"({A} OR {B}) AND {C}", lambda a, b, c: (a or b) and c),
        (f"NOT NOT {A}", lambda a, b, c: a),
        (f"{A} or not {B} and {C}", lambda a, b, c: a or ((not b) and c)),
    ],
)
def test_precedence(text, expected):
    assert _ids(text) == {i for i in range(8) if expected(bool(i & 1), bool(i & 2), bool(i & 4))}


# ---------------------------------------------------------------------------------------------------------------
# Errors: one per kind, each pointing at the character.


@pytest.mark.parametrize(
    "text, position, words",
    [
        ("bogus = 1", 0, ["unknown field 'bogus'", "num_frames", "attrs.<key>", "cameras"]),
        ("success = true AND Bogus > 1", 19, ["unknown field 'Bogus'"]),
        ("num_frames > 'abc'", 13, ["num_frames is a number", "'abc'"]),
        ("task = 5", 7, ["task is a string"]),
        ("success = 'yes'", 10, ["success is true, false or null"]),
        ("num_frames CONTAINS 'x'", 11, ["CONTAINS does not apply to num_frames"]),
        ("task >= 'a'", 5, [">= does not apply to task"]),
        ("total_reward > null", 15, ["null can only be compared"]),
        ("attrs.n > 'a'", 10, ["compares numbers"]),
        ("task CONTAINS 'unterminated", 14, ["unterminated string"]),
        ("num_frames >", 12, ["expected a value", "end of query"]),
        ("success = true AND", 18, ["expected a field name"]),
        ("NOT", 3, ["expected a field name"]),
        ("num_frames 5", 11, ["expected an operator"]),
        ("(success = true AND fps > 1", 0, ["unbalanced '('"]),
        ("success = true)", 14, ["unbalanced ')'"]),
        ("embodiment IN ('a', 'b'", 14, ["unbalanced '('"]),
        ("embodiment IN 'a'", 14, ["expected '(' after IN"]),
        ("num_frames > 30 success = true", 16, ["expected AND, OR or end of query"]),
        ("fps = 1.2.3", 6, ["invalid number '1.2.3'"]),
        ("fps = 1 ; drop", 8, ["unexpected character ';'"]),
        ("(" * 200 + "fps = 1" + ")" * 200, 100, ["nested deeper"]),
        ("   ", 0, ["empty query"]),
    ],
)
def test_error_position(text, position, words):
    with pytest.raises(QueryError) as info:
        compile_query(text)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.position == position and error.query == text
    for word in words:
        assert word in error.reason
    assert str(error).splitlines()[-1] == "  " + " " * position + "^"


def test_empty_query():
    with pytest.raises(QueryError, match="empty query"):
        run_query("", SMALL)


# ---------------------------------------------------------------------------------------------------------------
# Semantics, on hand-made tables.

NULLS = from_records(
    [
        {"episode_id": 0, "embodiment": "a", "task": "t", "num_frames": 10, "fps": 10.0, "action_dim": 7,
         "success": True, "total_reward": 1.0},
        {"episode_id": 1, "embodiment": "a", "task": "t", "num_frames": 10, "fps": 10.0, "action_dim": 7,
         "success": False, "total_reward": 0.0},
        {"episode_id": 2, "embodiment": "a", "task": "t", "num_frames": 10, "fps": 10.0, "action_dim": 7,
         "success": None, "total_reward": None},
    ]
)  # fmt: skip


@pytest.mark.parametrize(
    "text, expected",
    [
        ("success = null", [2]),
        ("success = none", [2]),
        ("success != true", [1, 2]),  # kinodb: unknown success is "not true"
        ("success != false", [0, 2]),
        ("success != null", [0, 1]),
        ("success > false", [0]),
        ("success <= true", [0, 1]),  # unknown is not ordered
        ("success IN (true, null)", [0, 2]),
        ("total_reward > 0.5", [0]),  # kinodb: a missing reward satisfies no comparison
        ("total_reward != 0", [0]),  # ... not even !=
        ("total_reward = null", [2]),
        ("total_reward != null", [0, 1]),  # kinodb: never matches (its bug)
        ("NOT total_reward != 0", [1, 2]),  # NOT is the complement
        ("total_reward IN (0, null)", [1, 2]),
        ("num_frames = null", []),
        ("num_frames != null", [0, 1, 2]),
        ("task = null", []),
    ],
)
def test_null_semantics(text, expected):
    assert run_query(text, NULLS) == expected


def test_numeric_tolerance_and_quoted_numbers():
    table = from_records(
        [{"episode_id": i, "embodiment": "e", "task": "t", "num_frames": 37 + i, "fps": f, "action_dim": 7,
          "success": None, "total_reward": None} for i, f in enumerate([29.969999313354492, 30.0, 30.0000005])]
    )  # fmt: skip
    assert run_query("fps = 29.97", table) == [0]  # f32 29.97 widens to 29.969999313..., within 1e-6
    assert run_query("fps = 30", table) == [1, 2]
    assert run_query("fps != 30", table) == [0]
    assert run_query("num_frames = '37'", table) == [0]
    assert run_query("num_frames = 37.0000001", table) == [0]
    assert run_query("episode_id > 99999999999999999999", table) == []
    assert run_query("episode_id < 1e400", table) == [0, 1, 2]
    assert run_query("(fps < 3.0e1)", table) == [0]


def test_strings_cameras_and_attrs():
    table = from_records(
        [
            {"episode_id": 0, "embodiment": "Franka", "task": "Open the DRAWER", "cameras": ["front", "wrist"],
             "attrs": {"operator": "alice", "n": 5, "ok": True, "tags": ["Sim", "night"]}},
            {"episode_id": 1, "embodiment": "franka", "task": "café", "cameras": ["observation.images.top"],
             "attrs": {"operator": "5", "n": 5.0, "ok": 1, "tags": None}},
            {"episode_id": 2, "embodiment": "ur5", "task": "", "cameras": [], "attrs": {}},
        ]
    )  # fmt: skip
    assert run_query("embodiment = franka", table) == [1]  # = is case-sensitive
    assert run_query("embodiment CONTAINS 'FRAN'", table) == [0, 1]  # CONTAINS is not
    assert run_query("task STARTSWITH 'open'", table) == [0]
    assert run_query("task CONTAINS 'CAFÉ'", table) == [1]
    assert run_query("task CONTAINS ''", table) == [0, 1, 2]
    assert run_query("embodiment IN (ur5, 'Franka')", table) == [0, 2]
    assert run_query("cameras CONTAINS 'wrist'", table) == [0]
    assert run_query("cameras CONTAINS 'TOP'", table) == [1]
    assert run_query("cameras STARTSWITH 'observation'", table) == [1]
    assert run_query("NOT cameras CONTAINS ''", table) == [2]
    assert run_query("attrs.operator = 'alice'", table) == [0]
    assert run_query("attrs.operator = 5", table) == []  # the string "5" is not the number 5
    assert run_query("attrs.operator = '5'", table) == [1]
    assert run_query("attrs.n = 5", table) == [0, 1]
    assert run_query("attrs.n >= 5", table) == [0, 1]
    assert run_query("attrs.ok = true", table) == [0]  # 1 is not true
    assert run_query("attrs.ok != true", table) == [1]  # a missing key satisfies no !=
    assert run_query("attrs.tags CONTAINS 'sim'", table) == [0]
    assert run_query("attrs.tags = null", table) == [1, 2]  # JSON null and missing
    assert run_query("attrs.absent = null", table) == [0, 1, 2]
    assert run_query("Attrs.operator CONTAINS 'LI'", table) == [0]
    assert run_query("attrs.Operator = 'alice'", table) == []  # keys are case-sensitive


def test_query_object_and_result_type():
    query = compile_query("success = true OR total_reward = null")
    positions = query.evaluate(NULLS)
    assert positions.dtype == np.int64 and positions.tolist() == [0, 2]
    assert query.evaluate(SMALL).tolist() == [0, 1]  # one compiled query, many tables
    assert run_query("success = true", from_records([])) == []
    assert "success = true OR" in repr(query)


def test_metatable_checks_lengths():
    n = 3
    columns = dict(
        episode_id=np.arange(n), num_frames=np.ones(n, np.int64), fps=np.ones(n), success=np.zeros(n, np.int8),
        total_reward=np.zeros(n), has_reward=np.ones(n, bool), action_dim=np.ones(n, np.int64),
        state_dim=np.ones(n, np.int64), task_id=np.zeros(n, np.int64), embodiment_id=np.zeros(n, np.int64),
        strings=["x"], cameras={"front": np.ones(n, bool)}, attrs=lambda key: np.full(n, MISSING, dtype=object),
    )  # fmt: skip
    assert len(MetaTable(**columns)) == n
    with pytest.raises(ValueError, match="fps"):
        MetaTable(**{**columns, "fps": np.ones(n + 1)})
    with pytest.raises(ValueError, match="front"):
        MetaTable(**{**columns, "cameras": {"front": np.ones(1, bool)}})
