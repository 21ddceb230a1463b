"""One source episode (a tree of arrays, see :mod:`.field_map`) as :meth:`Writer.add_episode` keyword arguments:
what the npz, pickle and hf_datasets formats share.

    actions                (T, A) or (T,), float16/32/64 kept (other numbers: float32); absent: actions=None
    states                 (T, S) or (T+1, S) (a final observation, kept), dtype kept as for actions
    rewards                (T,); total_reward = their float64 sum
    is_terminal            (T,) 0/1; absent: True on the last frame only (kinodb's convention)
    timestamps             (T,) float seconds (as float64) or int64 ns; otherwise kept as a column
    task / embodiment / fps / success   string / number / bool leaves (a meta.json's, mapped or by DEFAULTS)
    uint8 (T, H, W, C)     a camera named by its path (C in 1..4)
    other numeric leaves   T or T+1 rows: an extra column; a path with "init" in it (DAPG's init_state_dict,
                           RoboHive's robot_init) or another row count: an episode array
    other plain values     attrs (JSON); anything else is skipped and reported

T is the row count of actions, else of timestamps, else of states, else the row count every per-frame leaf
shares. Every row count is checked against T; a mapped path the episode lacks is a SourceLayoutError.
"""

from __future__ import annotations

import json
import math

import numpy as np

from . import (
    Report,
    SourceLayoutError,
    camera_shaped,
    check_options,
    column_name,
    require_zero_one,
    role_float,
    selected,
    storable_column,
    terminal_flags,
    total_reward,
    write_ingest,
)
from .field_map import MISSING, flatten, parse_field_map, resolve, split_target


def episode_kwargs(tree: dict, fmap: dict, report: Report, label: str) -> dict:
    """The add_episode kwargs of one source episode ``tree`` under the field map ``fmap``; ``label`` names the
    episode in errors (``"ep_003.npz"``)."""
    leaves = flatten(tree)
    found, used = resolve(tree, fmap, leaves)
    for target, (path, leaf) in found.items():
        if leaf is MISSING:
            raise SourceLayoutError(label, f"{path!r} (mapped to {target})", f"keys {sorted(leaves)[:24]}",
                                    "a path is dotted keys into nested dicts, e.g. --map states=obs.qpos")
    roles = {t: (p, _array(v, p, label)) for t, (p, v) in found.items() if split_target(t)[0] == "role"}
    t = _frame_count(roles, leaves, used, label)
    ep = _roles(roles, t, label, report)
    ep.update(_meta(found, label, report))
    per_frame = _per_frame(found, leaves, used, t, label, report)
    ep.update({k: v for k, v in per_frame.items() if v})
    ep["source"] = label
    return ep


def _array(value, path: str, label: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf" or arr.ndim == 0:
        raise SourceLayoutError(label, f"{path!r}: a numeric array with a row per frame",
                                f"{type(value).__name__} of dtype {arr.dtype}, shape {arr.shape}")
    return arr


def _frame_count(roles: dict, leaves: dict, used: set, label: str) -> int:
    for role in ("actions", "timestamps", "states"):
        if role in roles:
            return len(roles[role][1])
    lengths = sorted({len(v) for k, v in leaves.items() if k not in used and isinstance(v, np.ndarray)
                      and v.ndim and v.dtype.kind in "biuf" and "init" not in k})
    if len(lengths) == 2 and lengths[1] == lengths[0] + 1:
        lengths = lengths[:1]  # T and T+1 rows: the T+1 ones hold a final observation
    if len(lengths) != 1 or lengths[0] == 0:
        raise SourceLayoutError(label, "actions, timestamps or states (to count the frames)",
                                f"keys {sorted(leaves)[:24]} with row counts {lengths[:8]}",
                                "map one with --map actions=KEY / --map states=KEY (key_map in Python)")
    return lengths[0]


def _rows(arr, path: str, rows: tuple, label: str, role: str) -> np.ndarray:
    if len(arr) not in rows:
        want = " or ".join(str(r) for r in rows)
        raise SourceLayoutError(label, f"{path!r} ({role}) with {want} rows (the episode's frames)",
                                f"shape {arr.shape}")
    return arr


def _roles(roles: dict, t: int, label: str, report: Report) -> dict:
    ep = {"actions": None}
    if "actions" in roles:
        path, arr = roles["actions"]
        ep["actions"] = role_float("actions", arr.reshape(t, -1), report)
    else:
        report.note("no actions in the source: actions=None (action_dim 0)")
    if "states" in roles:
        path, arr = roles["states"]
        arr = _rows(arr, path, (t, t + 1), label, "states")
        ep["states"] = role_float("states", arr.reshape(len(arr), -1), report)
        if len(arr) == t + 1:
            report.note(f"states from {path!r} with T+1 rows (a final observation), kept")
    rewards = None
    if "rewards" in roles:
        path, arr = roles["rewards"]
        rewards = _rows(arr.reshape(len(arr), -1), path, (t,), label, "rewards").reshape(t, -1)
        if rewards.shape[1] != 1:
            raise SourceLayoutError(label, f"{path!r} (rewards) with one value per frame", f"shape {arr.shape}")
        ep["rewards"] = rewards = role_float("rewards", rewards.reshape(t), report)
    ep["total_reward"] = total_reward(rewards)
    done = None
    if "is_terminal" in roles:
        path, arr = roles["is_terminal"]
        done = require_zero_one(_rows(arr, path, (t,), label, "is_terminal").reshape(t), label, repr(path))
    ep["is_terminal"] = terminal_flags(done, t, report, "no done flags: is_terminal True on the last frame only")
    if "timestamps" in roles:
        ep.update(_timestamps(*roles["timestamps"], t, label, report))
    return ep


def _timestamps(path: str, arr: np.ndarray, t: int, label: str, report: Report) -> dict:
    """timestamps= when ``arr`` is (T,) float seconds (widened to float64, exactly) or int64 ns, finite and
    non-decreasing; otherwise the column ``path`` with a note saying why."""
    why = None
    if arr.ndim != 1 or len(arr) != t:
        why = f"shape {arr.shape}, not ({t},)"
    elif arr.dtype.kind == "f":
        arr = arr.astype(np.float64)
    elif arr.dtype != np.int64:
        why = f"dtype {arr.dtype} (timestamps are float seconds or int64 ns)"
    if why is None and not (np.isfinite(arr).all() and (np.diff(arr) >= 0).all()):
        why = "not finite and non-decreasing"
    if why is None:
        report.note(f"timestamps from {path!r}")
        return {"timestamps": arr}
    report.note(f"{path!r} kept as a column, not as timestamps: {why}")
    return {"columns": {column_name(path, ()): arr}}


def _meta(found: dict, label: str, report: Report) -> dict:
    out = {}
    for target, (path, leaf) in found.items():
        if split_target(target)[0] != "meta":
            continue
        value = leaf.item() if isinstance(leaf, np.ndarray) and leaf.size == 1 else leaf
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        ok = {"success": isinstance(value, (bool, np.bool_)) or value in (0, 1),
              "fps": isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
              and value >= 0}.get(target, isinstance(value, str))
        if not ok:
            report.note(f"{target}: {path!r} = {value!r:.60} is not a usable {target}; not used")
            continue
        out[target] = bool(value) if target == "success" else float(value) if target == "fps" else value
    return out


def _per_frame(found: dict, leaves: dict, used: set, t: int, label: str, report: Report) -> dict:
    """images, columns, episode_arrays and attrs: the mapped ones, then every leaf no target used."""
    out = {"images": {}, "columns": {}, "episode_arrays": {}, "attrs": {}}
    for target, (path, leaf) in found.items():
        kind, name = split_target(target)
        if kind in ("images", "columns", "episode_arrays", "rename"):
            _place(out, kind, name, path, _array_leaf(leaf, path, label), t, label, report)
    for path, leaf in leaves.items():
        if path not in used:
            _place(out, None, path, path, leaf, t, label, report)
    return out


def _array_leaf(leaf, path: str, label: str) -> np.ndarray:
    arr = np.asarray(leaf)
    if arr.dtype.kind not in "biuf":
        raise SourceLayoutError(label, f"{path!r}: a numeric array", f"dtype {arr.dtype}")
    return arr


def _place(out: dict, kind, name: str, path: str, leaf, t: int, label: str, report: Report) -> None:
    """Put one leaf where it belongs (``kind`` None: by its shape and dtype, see the module docstring)."""
    if kind is None and not (isinstance(leaf, np.ndarray) and leaf.dtype.kind in "biuf" and leaf.ndim):
        _attr(out["attrs"], path, leaf, report)
        return
    arr = np.asarray(leaf)
    rows = len(arr) if arr.ndim else None
    if kind is None:
        if arr.ndim and "init" not in path.lower() and rows in (t, t + 1):
            kind = "images" if rows == t and arr.dtype == np.uint8 and camera_shaped(arr.shape) else "columns"
        else:
            kind = "episode_arrays"
    elif kind == "rename":
        kind = "images" if rows == t and arr.dtype == np.uint8 and camera_shaped(arr.shape) else "columns"
    if kind == "images" and (rows != t or not camera_shaped(arr.shape)):
        raise SourceLayoutError(label, f"{path!r} (camera {name!r}): (T={t}, H, W, C) frames", f"shape {arr.shape}")
    if kind == "columns" and rows not in (t, t + 1):
        raise SourceLayoutError(label, f"{path!r} (column {name!r}) with {t} or {t + 1} rows", f"shape {arr.shape}")
    why = storable_column(arr[None] if kind == "episode_arrays" else arr)
    if why:
        report.skip(f"{path!r}", why, stacklevel=6)
        return
    taken = set(out["images"]) | set(out["columns"]) | set(out["episode_arrays"])
    if kind == "images":
        name = camera_name(name)
    out[kind][column_name(name, taken)] = arr


def camera_name(path: str) -> str:
    """A camera's name from its path: a leading ``images.`` / ``image.`` / ``obs.images.`` dropped
    (``images.front`` -> ``front``); ``images`` itself (a name kinonb reserves) -> ``image``."""
    for prefix in ("obs.images.", "observation.images.", "images.", "image."):
        if path.startswith(prefix) and len(path) > len(prefix):
            return path[len(prefix):]
    return "image" if path == "images" else path


def _attr(attrs: dict, path: str, leaf, report: Report) -> None:
    """A plain value (str, number, bool, a short list of them) into attrs; anything else is skipped."""
    value = leaf.tolist() if isinstance(leaf, (np.ndarray, np.generic)) else leaf
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        report.skip(f"{path!r}", f"a {type(leaf).__name__}, neither a numeric array nor a JSON value", stacklevel=7)
        return
    if len(text) > 16 * 1024:
        report.skip(f"{path!r}", "a value of over 16 KiB of JSON", stacklevel=7)
        return
    attrs[path] = value



META_FROM = {"task": "each episode's task key (task, language_instruction, meta.json task; --map task=KEY)",
             "embodiment": "each episode's embodiment key (embodiment, robot_type, meta.json embodiment; "
                           "--map embodiment=KEY)",
             "fps": "each episode's fps key (fps, control_freq, meta.json fps; --map fps=KEY)"}


def write_trees(src, out, fmt: str, read, count: int, *, embodiment=None, task=None, fps=None,
                max_episodes=None, compression=None, key_map=None, overwrite=False, progress=None,
                report: Report | None = None, episodes=None) -> Report:
    """Write the source's episodes (``read(i)``: episode i's (label, tree, episode_id); ``count`` of them; the
    ones :func:`selected` chooses are read) to ``out``, each tree turned into add_episode kwargs by
    :func:`episode_kwargs` under the field map ``key_map``."""
    check_options(fps=fps, max_episodes=max_episodes, compression=compression)
    fmap = parse_field_map(key_map)
    report = report or Report("ingest", source=str(src), output=str(out), format=fmt)
    chosen = selected(count, max_episodes, episodes)

    def kwargs():
        for i in chosen:
            label, tree, episode_id = read(i)
            ep = episode_kwargs(tree, fmap, report, label)
            ep["episode_id"] = episode_id
            yield ep

    return write_ingest(out, kwargs(), report, compression=compression, overwrite=overwrite, progress=progress,
                        total=len(chosen), embodiment=embodiment, task=task, fps=fps, meta_from=META_FROM)
