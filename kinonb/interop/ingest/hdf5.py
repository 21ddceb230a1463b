"""HDF5 demonstrations: robomimic / LIBERO files and robosuite's raw demo files (extra ``hdf5``: h5py).

Expected layout: a ``data`` group holding ``demo_<N>`` groups, ingested in numeric order of N (demo_2 before
demo_10); the episode id is N.

robomimic / LIBERO (a demo has an ``obs`` group)::

    data/demo_N/actions (T, A)   -> actions (float16/32/64 kept, integers as float32; so for every role)
    data/demo_N/rewards (T,)     -> rewards; total_reward = their float64 sum; success = last reward > 0
    data/demo_N/dones (T,)       -> is_terminal, as stored (0/1)
    data/demo_N/obs/<key>        -> uint8 (T, H, W, C): a camera named <key>; the (T,) / (T, D) numeric arrays,
                                    flattened and concatenated (their common dtype) in sorted key order into
                                    states, each stored once: attrs ``states_layout`` {"obs/<key>": [start,
                                    stop]} gives its columns of the states (one the states cannot give back bit
                                    for bit, cast to its dtype, is also an extra column); other numeric arrays:
                                    an extra column named <key> (``obs.<key>`` when kinonb reserves the name)
    data/demo_N/states           -> extra column ``sim_states`` (MuJoCo states, dtype kept)
    data/demo_N/next_obs/*       -> skipped (the next frame's obs: obs shifted by one frame)
    mask/<filter>                -> attrs {"mask": [filters listing the demo]}; ``filter_key`` keeps one filter
    data.attrs                   -> task, embodiment, fps: env_args (robomimic / LIBERO), LIBERO's problem_info
                                    and env_name (below)

robosuite raw demos (no ``obs`` group; robosuite 0.3 / 1.x ``demo.hdf5``)::

    data/demo_N/states (T, S)    -> states and ``sim_states`` (the same values, needed to replay the demo)
    data/demo_N/actions (T, A)   -> actions; robosuite 0.3 files have none: actions = joint_velocities ++
                                    gripper_actuations when both exist (0.3's playback convention), else
                                    (T, 0) with a note (BaxterLift / BaxterPegInHole store states only)
    data.attrs env / env_info    -> task, embodiment, fps (below); 0.x files (env only): embodiment = the robot
                                    the env name begins with (SawyerLift -> Sawyer)

Task, embodiment and fps, for either layout, from the first of these data.attrs that has a usable value (a list of
robots joins with "+", a list of words with spaces): task: problem_info.language_instruction, env_args.env_name,
env_info.env_name, env_name, env; embodiment: env_args.env_kwargs.robots, env_info.robots; fps:
env_args.env_kwargs.control_freq, env_info.control_freq (robosuite's own demo files mostly have none). A field
none of these give is left empty and the report notes it (``fps left empty (0: unknown) ...``), as it notes
where every other value came from; the embodiment / task / fps options override the file's.

Any other dataset of a demo with T rows becomes an extra column named by its path (``joint_torques``,
``controller_info/robot_controls/action``); datasets with another row count (robosuite 1.4's teleop streams)
are skipped and reported. Demo attributes go into attrs, with ``demo`` (the group name) and ``data_attrs``
(the data group's attributes); string attributes over 16 KiB (robosuite's MJCF ``model_file`` XML) are
skipped and reported unless ``keep_large_attrs``. The key_map roles take paths relative to the demo group,
e.g. ``{"states": "obs/robot0_eef_pos"}``.
"""

from __future__ import annotations

import os
import re

import numpy as np

from . import (
    Report,
    SourceLayoutError,
    camera_shaped,
    check_options,
    column_name,
    first_meta,
    non_empty,
    renames,
    require,
    require_exists,
    require_zero_one,
    role_float,
    selected,
    skip_if_unstorable,
    terminal_flags,
    total_reward,
    write_ingest,
)
from .hdf5_meta import episode_attrs, masks_of, source_meta

DEMO = re.compile(r"demo_(\d+)$")


def ingest_hdf5(src, out, *, embodiment=None, task=None, fps=None, max_episodes=None, compression=None,
                key_map=None, filter_key=None, keep_large_attrs=False, overwrite=False,
                progress=None, episodes=None) -> Report:
    """Convert a robomimic / LIBERO / robosuite HDF5 file to .knb (see the module docstring for the mapping)."""
    key_map = check_options(fps=fps, max_episodes=max_episodes, compression=compression, key_map=key_map)
    h5py = require("h5py", "hdf5", "HDF5 ingest")
    report = Report("ingest", source=str(src), output=str(out), format="hdf5")
    if not os.path.isfile(src):
        require_exists(src)
        raise SourceLayoutError(src, "an HDF5 file", "a directory")
    try:
        f = h5py.File(src, "r")
    except OSError as e:
        raise SourceLayoutError(src, "an HDF5 file", f"a file h5py cannot open ({' '.join(str(e).split())[:120]})") \
            from None
    with f:
        if "data" not in f or not isinstance(f["data"], h5py.Group):
            raise SourceLayoutError(src, "a top-level 'data' group holding demo_<N> groups (robomimic / LIBERO / "
                                    "robosuite layout)", f"top-level keys {sorted(f.keys())}")
        data = f["data"]
        names = sorted((k for k in data if DEMO.match(k)), key=lambda k: int(DEMO.match(k).group(1)))
        if not names:
            raise SourceLayoutError(src, "data/demo_<N> groups", f"groups in data/: {sorted(data.keys())[:20]}")
        for k in data:
            if not DEMO.match(k):
                report.skip(f"data/{k}", "not a demo_<N> group")
        masks = masks_of(f)
        if filter_key is not None:
            if filter_key not in masks:
                raise SourceLayoutError(src, f"a filter mask/{filter_key}", f"filters {sorted(masks)}")
            keep = set(masks[filter_key])
            names = [n for n in names if n in keep]
            report.note(f"filter mask/{filter_key}: {len(names)} demos")
        chosen = selected(len(names), max_episodes, episodes)
        meta = source_meta(data, report)
        # one dtype per dataset over every demo ingested, so that each shard of a sharded ingest picks the same
        meta["dtypes"] = _common_dtypes(data, names[: None if max_episodes is None else int(max_episodes)], report)
        names = names[chosen.start:chosen.stop]
        demos = (_episode(data[n], n, masks, meta, key_map, keep_large_attrs, report) for n in names)
        return write_ingest(out, demos, report, compression=compression, overwrite=overwrite, progress=progress,
                            total=len(names), embodiment=embodiment, task=task, fps=fps,
                            meta_from=meta["meta_from"])


#: {(file, its size and mtime, demos): {dataset path: its dtypes}}: the shards of a sharded ingest that one process
#: writes walk the demos' metadata once.
_DTYPES_SEEN: dict = {}


def _common_dtypes(data, names, report) -> dict:
    """{dataset path: one dtype for every demo}: where demos store a dataset with different dtypes (robosuite
    1.4's handover demos mix float32 and float64), the column takes the type that holds them all (reading only
    HDF5 metadata), so no later demo is rounded into an earlier one's narrower dtype."""
    st = os.stat(data.file.filename)
    key = (os.path.abspath(data.file.filename), st.st_size, st.st_mtime_ns, tuple(names))
    if key not in _DTYPES_SEEN:
        seen: dict = {}
        for n in names:
            for path, ds in _datasets(data[n]):
                seen.setdefault(path, set()).add(ds.dtype)
        if len(_DTYPES_SEEN) >= 4:
            _DTYPES_SEEN.clear()
        _DTYPES_SEEN[key] = seen
    out = {}
    for path, dts in _DTYPES_SEEN[key].items():
        if len(dts) > 1 and all(d.kind in "biuf" for d in dts):
            out[path] = np.result_type(*dts)
            report.note(f"{path}: dtypes differ between demos ({', '.join(sorted(map(str, dts)))}); stored as "
                        f"{out[path]}")
    return out


def _datasets(group, prefix=""):
    """Every dataset under ``group`` as (path relative to it, dataset), depth first in key order."""
    import h5py

    for k in group:
        obj = group[k]
        if isinstance(obj, h5py.Dataset):
            yield prefix + k, obj
        elif isinstance(obj, h5py.Group):
            yield from _datasets(obj, f"{prefix}{k}/")


def _get(demo, path, name, src_label):
    if path not in demo:
        raise SourceLayoutError(src_label, f"dataset {demo.name}/{path} (mapped to {name})",
                                f"datasets {[p for p, _ in _datasets(demo)][:20]}")
    return np.asarray(demo[path][()])


def _episode(demo, name, masks, source_meta, key_map, keep_large_attrs, report: Report) -> dict:
    """One demo group as Writer.add_episode kwargs (see the module docstring for the mapping)."""
    consumed = set()  # datasets stored in a role (or as sim_states): not extra columns as well
    dtypes = source_meta["dtypes"]
    actions = _actions(demo, key_map, consumed, dtypes, report)
    t = len(actions)
    ep = {"actions": actions, "episode_id": int(DEMO.match(name).group(1)), "source": f"data/{name}"}
    ep.update(_rewards_and_terminal(demo, t, key_map, consumed, dtypes, report))
    if "obs" in demo:  # robomimic / LIBERO
        images, columns, lowdim = _obs(demo, t, key_map, dtypes, report)
        states, layout = _obs_states(demo, t, key_map.get("states"), lowdim, columns, consumed, dtypes, report)
        _sim_states(demo, t, key_map, columns, consumed, dtypes, report)
        if "next_obs" in demo:
            report.skip("data/demo_*/next_obs", "the next frame's obs (obs shifted by one frame)")
    else:  # a robosuite raw demo
        images, columns = {}, {}
        states = _raw_demo_states(demo, t, key_map, columns, consumed, dtypes, report)
    if states is not None:
        ep["states"] = states
    _other_datasets(demo, t, key_map, columns, consumed, dtypes, report)
    ep.update(non_empty(images=images, columns=columns))
    ep["attrs"] = episode_attrs(demo, name, masks, source_meta["data_attrs"], keep_large_attrs, report)
    if "obs" in demo and layout:
        ep["attrs"]["states_layout"] = layout
    ep["task"], ep["embodiment"], ep["fps"] = source_meta["task"], source_meta["embodiment"], source_meta["fps"]
    return ep


def _actions(demo, key_map, consumed, dtypes, report: Report) -> np.ndarray:
    """(T, A) actions: key_map's or ``actions``, else joint_velocities ++ gripper_actuations, else (T, 0)."""
    akey = key_map.get("actions", "actions")
    if akey in demo:
        actions = _get(demo, akey, "actions", report.source)
        consumed.add(akey)
        if akey != "actions":
            report.note(f"actions from {akey}")
    elif "actions" not in key_map and "joint_velocities" in demo and "gripper_actuations" in demo:
        jv, ga = (_widen(np.asarray(demo[k]), k, dtypes) for k in ("joint_velocities", "gripper_actuations"))
        actions = np.concatenate([jv.reshape(len(jv), -1), ga.reshape(len(ga), -1)], axis=1)
        report.note("actions = joint_velocities ++ gripper_actuations (robosuite 0.3 playback convention)")
    elif "actions" in key_map:
        actions = _get(demo, akey, "actions", report.source)
    elif "states" in demo:
        actions = np.zeros((len(demo["states"]), 0), np.float32)
        report.note("no actions in the source (states only): actions stored with action_dim 0")
    else:
        raise SourceLayoutError(report.source, f"{demo.name}/actions (or states, for a robosuite raw demo)",
                                f"datasets {[p for p, _ in _datasets(demo)][:20]}", "map one with key_map")
    actions = _widen(actions, akey, dtypes)
    return role_float("actions", actions.reshape(-1, 1) if actions.ndim == 1 else actions, report)


def _rewards_and_terminal(demo, t, key_map, consumed, dtypes, report: Report) -> dict:
    """rewards, is_terminal (0/1 dones, else the last frame only), total_reward and success (last reward > 0)."""
    src, fields, rewards, dones = report.source, {}, None, None
    rkey, dkey = key_map.get("rewards", "rewards"), key_map.get("is_terminal", "dones")
    if rkey in demo:
        rewards = _per_frame(_get(demo, rkey, "rewards", src), t, rkey, demo, src).reshape(t)
        consumed.add(rkey)
        fields["rewards"] = role_float("rewards", _widen(rewards, rkey, dtypes), report)
    if dkey in demo:
        dones = _per_frame(_get(demo, dkey, "is_terminal", src), t, dkey, demo, src).reshape(t)
        consumed.add(dkey)
        require_zero_one(dones, src, f"{demo.name}/{dkey}", "values {values} ({dtype})")
    fields["is_terminal"] = terminal_flags(dones, t, report, "no dones: is_terminal True on the last frame only")
    fields["total_reward"] = total_reward(rewards)
    fields["success"] = None if rewards is None else bool(np.asarray(rewards).reshape(-1)[-1] > 0)
    if rewards is not None:
        report.note("success = last reward > 0 (kinodb's HDF5 rule); total_reward = float64 sum of rewards")
    return fields


def _obs(demo, t, key_map, dtypes, report: Report):
    """robomimic obs/<key>: (uint8 (T, H, W, C) cameras, columns, {key: (column name, array)} of the (T,) / (T, D)
    arrays) in key order; the low-dim arrays are not in ``columns`` yet (:func:`_obs_states` decides)."""
    rename = renames(key_map)
    images, columns, lowdim = {}, {}, {}
    for key, ds in _datasets(demo["obs"]):
        path = f"obs/{key}"
        arr = np.asarray(ds[()])
        if len(arr) != t:
            _skip_ragged(report, path, len(arr), t)
            continue
        if arr.dtype == np.uint8 and camera_shaped(arr.shape):
            images[rename.get(path, rename.get(key, key))] = arr
            continue
        if skip_if_unstorable(arr, f"data/demo_*/{path}", report):
            continue
        arr = _widen(arr, path, dtypes)
        name = rename.get(path, rename.get(key) or column_name(key, {**columns, **dict(lowdim.values())}))
        if arr.ndim <= 2:
            lowdim[key] = (name, arr)
        else:
            columns[name] = arr
    return images, columns, lowdim


def _obs_states(demo, t, skey, lowdim, columns, consumed, dtypes, report: Report):
    """(robomimic states, their layout): key_map's dataset ``skey``, else the ``lowdim`` arrays in sorted key
    order. A low-dim array that the states hold exactly (cast back to its dtype, bit for bit) is stored once, in
    the states, and the layout ``{"obs/<key>": [start, stop]}`` (its columns of the states) goes into the
    episode's attrs as ``states_layout``; the others become extra columns as well."""
    if skey is not None:
        states = _per_frame(_get(demo, skey, "states", report.source), t, skey, demo, report.source)
        out = role_float("states", _widen(states, skey, dtypes).reshape(t, -1), report)
        consumed.add(skey)
        report.note(f"states from {skey}")
        layout = {}
        for k, (name, arr) in lowdim.items():
            if f"obs/{k}" == skey and _holds(out, arr):
                layout = {skey: [0, out.shape[1]]}
            else:
                columns[name] = arr
        return out, layout
    if not lowdim:
        return None, {}
    keys = sorted(lowdim)
    out = np.concatenate([role_float(f"obs/{k}", lowdim[k][1].reshape(t, -1), report) for k in keys], axis=1)
    report.note(f"states = concatenation of obs/{{{', '.join(keys)}}} (sorted keys)")
    layout, start = {}, 0
    for k in keys:
        name, arr = lowdim[k]
        stop = start + int(np.prod(arr.shape[1:], dtype=np.int64))
        if _holds(out[:, start:stop], arr):
            layout[f"obs/{k}"] = [start, stop]
        else:
            columns[name] = arr
        start = stop
    if layout:
        report.note(f"obs/{{{', '.join(k[4:] for k in layout)}}} stored once, in states (attrs.states_layout "
                    f"gives each one's columns)")
    return out, layout


def _holds(part: np.ndarray, arr: np.ndarray) -> bool:
    """Whether ``part`` (a slice of the states) cast back to ``arr``'s dtype is ``arr``, bit for bit."""
    back = part.astype(arr.dtype).reshape(arr.shape)
    return back.tobytes() == np.ascontiguousarray(arr).tobytes()


def _sim_states(demo, t, key_map, columns, consumed, dtypes, report: Report) -> None:
    """robomimic's states dataset (MuJoCo sim states), unless a role took it: the column sim_states in ``columns``."""
    if "states" in demo and "states" not in consumed:
        sim = np.asarray(demo["states"][()])
        if len(sim) == t:
            columns[renames(key_map).get("states", "sim_states")] = _widen(sim, "states", dtypes)
            report.note("states dataset (MuJoCo sim states) -> column sim_states")
        else:
            _skip_ragged(report, "states", len(sim), t)
        consumed.add("states")


def _raw_demo_states(demo, t, key_map, columns, consumed, dtypes, report: Report) -> np.ndarray:
    """A raw demo's states: key_map's or ``states``, which also goes to ``columns`` as sim_states."""
    src = report.source
    skey = key_map.get("states") or "states"
    if skey not in demo:
        raise SourceLayoutError(src, f"{demo.name}/obs (robomimic) or {demo.name}/states (robosuite raw demo)",
                                f"datasets {[p for p, _ in _datasets(demo)][:20]}")
    states = _per_frame(_get(demo, skey, "states", src), t, skey, demo, src)
    out = role_float("states", _widen(states, skey, dtypes).reshape(t, -1), report)
    consumed.add(skey)
    if skey == "states":
        columns[renames(key_map).get("states", "sim_states")] = _widen(states, "states", dtypes)
        report.note("robosuite raw demo: states -> states and sim_states")
    return out


def _other_datasets(demo, t, key_map, columns, consumed, dtypes, report: Report) -> None:
    """Every other dataset (outside obs/, next_obs/) with a row per frame: a column in ``columns`` named by its path."""
    rename = renames(key_map)
    for path, ds in _datasets(demo):
        if path in consumed or path.startswith(("obs/", "next_obs/")):
            continue
        arr = np.asarray(ds[()])
        if arr.ndim == 0 or len(arr) != t:
            _skip_ragged(report, path, arr.shape[0] if arr.ndim else 0, t)
            continue
        if skip_if_unstorable(arr, f"data/demo_*/{path}", report):
            continue
        columns[rename.get(path) or column_name(path, columns)] = _widen(arr, path, dtypes)


def _widen(arr, path, dtypes):
    """``arr`` in the dtype _common_dtypes chose for ``path``, if it chose one."""
    dtype = dtypes.get(path)
    return arr if dtype is None or arr.dtype == dtype else arr.astype(dtype)


def _per_frame(arr, t, key, demo, src):
    if arr.ndim == 0 or len(arr) != t:
        raise SourceLayoutError(src, f"{demo.name}/{key} with {t} rows (the episode's length, from actions)",
                                f"shape {arr.shape}")
    return arr


def _skip_ragged(report, path, rows, t):
    """Report datasets without one row per frame, grouped by their top-level group (robosuite 1.4's teleop
    streams: controller_info/*, user_info/*)."""
    head, sep, _ = path.partition("/")
    what = f"datasets under data/demo_*/{head}/" if sep else f"data/demo_*/{path}"
    report.skip(what, f"not one row per frame (e.g. {path}: {rows} rows for an episode of {t} frames)"
                + ("; the per-frame datasets there are kept" if sep else ""))
