"""Writer and reader papercuts a new user meets: lossy conversions refused, a dropped writer announced,
a non-string query refused with a QueryError."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import kinonb


@pytest.mark.parametrize("column, value, dtype, why", [
    ("actions", 1e300, np.float64, "overflows float32"),
    ("actions", 2**40 + 1, np.int64, "not exactly representable in float32"),
    ("states", -3e39, np.float64, "overflows float32"),
    ("rewards", 2**53 + 1, np.uint64, "not exactly representable in float32"),
])
def test_lossy_conversions_raise_naming_column_value_and_index(tmp_path, column, value, dtype, why):
    data = {"actions": np.zeros((4, 2)), "states": np.zeros((4, 3)), "rewards": np.zeros(4)}
    data[column] = data[column].astype(dtype)
    where = (2, 1) if data[column].ndim == 2 else (2,)
    data[column][where] = value
    with kinonb.create(tmp_path / "x.knb") as w:
        w.add_episode(actions=np.zeros((1, 2), np.float32), states=np.zeros((1, 3), np.float32),
                      rewards=np.zeros(1, np.float32))  # the file's columns are float32
        with pytest.raises(kinonb.SchemaError) as caught:
            w.add_episode(**data)
        w.add_episode(actions=np.zeros((1, 2), np.float32))
    text = str(caught.value)
    assert text.startswith(f"{column}: value ") and why in text and repr(data[column][where].item()) in text
    assert f"index {where[0] if len(where) == 1 else where}" in text


def test_rounding_and_non_finite_values_are_kept(tmp_path):
    actions = np.array([[0.1, 2.0**24], [np.inf, np.nan]], np.float64)
    with kinonb.create(tmp_path / "x.knb") as w:
        w.add_episode(actions=actions, columns={"ids": np.array([1, 2**40 + 1], np.int64)})
        w.add_episode(actions=np.zeros((1, 2), np.int32), columns={"ids": np.array([7], np.int32)})
        w.add_episode(actions=np.zeros((1, 2)), states=np.ones((1, 2), np.float32))
        w.add_episode(actions=np.zeros((1, 2)), states=np.array([[0.1, np.inf]]))  # float64 into float32 rounds
    db = kinonb.open(tmp_path / "x.knb")
    ep = db.read_episode(0)
    np.testing.assert_array_equal(ep["actions"], actions)  # float64 kept as given
    assert ep["actions"].dtype == np.float64 and db.read_episode(1)["actions"].dtype == np.float64
    assert ep["ids"].tolist() == [1, 2**40 + 1] and ep["ids"].dtype == np.int64
    np.testing.assert_array_equal(db.read_episode(3)["states"], np.array([[0.1, np.inf]], np.float32))


def test_extra_float32_column_refuses_overflow_from_a_later_episode(tmp_path):
    with kinonb.create(tmp_path / "x.knb") as w:
        w.add_episode(actions=np.zeros((2, 1), np.float32), columns={"force": np.zeros(2, np.float32)})
        with pytest.raises(kinonb.SchemaError, match=r"force: value 1e\+200 at index 1 overflows float32"):
            w.add_episode(actions=np.zeros((2, 1), np.float32), columns={"force": np.array([0.0, 1e200])})


def test_a_dropped_writer_warns_visibly(tmp_path):
    code = ("import numpy as np, kinonb\n"
            f"w = kinonb.create({str(tmp_path / 'x.knb')!r})\n"
            "w.add_episode(actions=np.zeros((2, 2), np.float32))\n"
            "del w\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert "UnclosedWriterWarning" in done.stderr and "1 episodes added since the last commit" in done.stderr
    assert kinonb.open(tmp_path / "x.knb").num_episodes() == 0
    assert issubclass(kinonb.errors.UnclosedWriterWarning, kinonb.errors.KinonbWarning)


@pytest.mark.parametrize("query", [None, 3, ["success = true"]])
def test_query_of_a_non_string_is_a_query_error(tmp_path, query):
    with kinonb.create(tmp_path / "x.knb") as w:
        w.add_episode(actions=np.zeros((2, 2), np.float32))
    with pytest.raises(kinonb.QueryError, match="must be a str"):
        kinonb.open(tmp_path / "x.knb").query(query)
