"""diffusion_policy replay buffers in zarr (extra ``zarr``; zarr v2 or v3 stores, directories or ``.zarr.zip``).

A flat group (arrays and ``episode_ends`` at its root, no data/ meta/ groups) is split at episode_ends and read
with the generic field map instead (:func:`~kinonb.ingest.npz.ingest_concatenated`: float64 kept, dotted
``--map`` paths).

Expected layout: ``data/<key>`` arrays that all have N rows, and ``meta/episode_ends`` (int, ascending, last ==
N): episode i is rows ``[episode_ends[i-1], episode_ends[i])``; its position is its episode id.

    data/action    -> actions (float16/32/64 as stored, so float64 reads back bit-exact; other numbers: float32)
    data/state     -> states (likewise)
    data/reward    -> rewards; data/done or data/terminal -> is_terminal (when present)
    image arrays   -> cameras: 4-D (N, H, W, C) arrays with C in 1..4 that are uint8, or float holding integers
                      in 0..255 (Push-T's ``img`` is float32 0..255): converted to uint8 exactly, and a clear
                      error, never a rounding, when a value is not such an integer
    other arrays   -> extra columns with their dtype (Push-T: keypoint (9, 2), n_contacts (1,))
    group attrs    -> task / embodiment / fps from the attrs of the root, data/ and meta/ groups (root first), the
                      first key present of META_KEYS[field] (task: task, language_instruction, env_name, env;
                      embodiment: embodiment, robot_type, robot, robots; fps: fps, control_freq); every non-empty
                      group's attrs also go into each episode's attrs["zarr_attrs"] ({"/", "data" or "meta": attrs})

Without a done array, is_terminal is True on the last frame of each episode (kinodb's convention). Without a
reward array, rewards, total_reward and success are absent. key_map maps roles and renames keys, e.g.
``{"top": "img"}`` stores ``data/img`` as camera ``top``.

diffusion_policy's ReplayBuffer writes no attrs, so its buffers (Push-T included) leave task, embodiment and fps
empty unless the embodiment / task / fps options set them; the report says so, a line per field. (Push-T is
recorded at 10 Hz per diffusion_policy's config, which the zarr store does not hold: pass ``fps=10``.)
"""

from __future__ import annotations

import os

import numpy as np

from . import (
    Report,
    SourceLayoutError,
    camera_shaped,
    check_options,
    first_meta,
    renames,
    require,
    require_exists,
    require_zero_one,
    role_float,
    selected,
    skip_if_unstorable,
    states_and_rewards,
    terminal_flags,
    write_ingest,
)

META_KEYS = {"task": ("task", "language_instruction", "env_name", "env"),
             "embodiment": ("embodiment", "robot_type", "robot", "robots"), "fps": ("fps", "control_freq")}
DEFAULT_KEYS = {"actions": ("action", "actions"), "states": ("state", "states", "obs"),
                "rewards": ("reward", "rewards"), "is_terminal": ("done", "dones", "terminal", "is_terminal")}


def open_group(src):
    """Open a zarr group read-only: a directory store (v2 or v3) or a ``.zip`` store."""
    zarr = require("zarr", "zarr", "zarr ingest")
    path = os.fspath(src)
    require_exists(path)
    try:
        if path.endswith(".zip"):
            return zarr.open_group(zarr.storage.ZipStore(path, mode="r"), mode="r")
        return zarr.open_group(path, mode="r")
    except (FileNotFoundError, KeyError, ValueError) as e:  # zarr's GroupNotFoundError is all of these
        raise SourceLayoutError(path, "a zarr group (.zgroup or zarr.json)", f"none ({' '.join(str(e).split())})") \
            from None


def ingest_zarr(src, out, *, embodiment=None, task=None, fps=None, max_episodes=None, compression=None,
                key_map=None, overwrite=False, progress=None, episodes=None) -> Report:
    """Convert a diffusion_policy zarr replay buffer to .knb (see the module docstring for the mapping)."""
    root = open_group(src)
    if "episode_ends" in set(root.array_keys()):  # a flat group of concatenated episodes: the generic field map
        from .npz import ingest_concatenated

        arrays = {k: root[k] for k in root.array_keys() if k != "episode_ends"}
        return ingest_concatenated(src, out, "zarr", arrays, root["episode_ends"][:], embodiment=embodiment,
                                   task=task, fps=fps, max_episodes=max_episodes, compression=compression,
                                   key_map=key_map, overwrite=overwrite, progress=progress, episodes=episodes)
    key_map = check_options(fps=fps, max_episodes=max_episodes, compression=compression, key_map=key_map)
    report = Report("ingest", source=str(src), output=str(out), format="zarr")
    ends, arrays = _replay_buffer(root, src, report)
    source_meta, meta_from = _source_meta(root, report)
    roles = _pick_roles(arrays, key_map, src, report)
    cameras, columns = _cameras_and_columns(arrays, roles, renames(key_map), report)
    if "is_terminal" not in roles:
        report.note("no done array: is_terminal True on the last frame of each episode")
    chosen = selected(len(ends), max_episodes, episodes)

    def replay():
        for i in chosen:
            start, stop = int(ends[i - 1]) if i else 0, int(ends[i])
            yield dict(_episode(src, i, start, stop, arrays, roles, cameras, columns, report), **source_meta)

    return write_ingest(out, replay(), report, compression=compression, overwrite=overwrite, progress=progress,
                        total=len(chosen), embodiment=embodiment, task=task, fps=fps, meta_from=meta_from)


def _source_meta(root, report: Report):
    """({task, embodiment, fps, attrs}: what every episode takes from the group attrs, {field: where it came from,
    or was looked for}); see the module docstring."""
    groups = {"/": dict(root.attrs), "data": dict(root["data"].attrs), "meta": dict(root["meta"].attrs)}
    meta, meta_from = {}, {}
    for field, keys in META_KEYS.items():
        options = [(attrs.get(k), f"{'the root' if g == '/' else g + '/'} attrs[{k!r}]")
                   for g, attrs in groups.items() for k in keys]
        meta[field], where = first_meta(field, options, report)
        meta_from[field] = where if meta[field] else f"the root, data/ and meta/ attrs ({', '.join(keys)})"
    zarr_attrs = {g: attrs for g, attrs in groups.items() if attrs}
    if zarr_attrs:
        meta["attrs"] = {"zarr_attrs": zarr_attrs}
    return meta, meta_from


def _replay_buffer(root, src, report: Report):
    """(meta/episode_ends, {key: data/<key> array}), checked: the ends strictly increasing from > 0, every array
    with ends[-1] rows; the other meta/ arrays are reported skipped."""
    groups = sorted(k for k in root.group_keys()) if hasattr(root, "group_keys") else []
    if "data" not in groups or "meta" not in groups:
        raise SourceLayoutError(src, "a replay buffer: groups data/ and meta/ (diffusion_policy ReplayBuffer)",
                                f"groups {groups}, arrays {sorted(root.array_keys())}")
    data, meta = root["data"], root["meta"]
    if "episode_ends" not in meta:
        raise SourceLayoutError(src, "array meta/episode_ends", f"meta/ holds {sorted(meta.keys())}")
    ends = np.asarray(meta["episode_ends"][:]).astype(np.int64).reshape(-1)
    arrays = {k: data[k] for k in sorted(data.array_keys())}
    for k in sorted(set(meta.keys()) - {"episode_ends"}):
        report.skip(f"meta/{k}", "only meta/episode_ends is read", stacklevel=4)  # at ingest_zarr's caller
    n = int(ends[-1]) if len(ends) else 0
    if len(ends) and (ends[0] <= 0 or np.any(np.diff(ends) <= 0)):
        raise SourceLayoutError(src, "meta/episode_ends strictly increasing and > 0 (no empty episode)",
                                f"{ends[:10].tolist()}...")
    for k, a in arrays.items():
        if a.shape[0] != n:
            raise SourceLayoutError(src, f"data/{k} with {n} rows (meta/episode_ends[-1])", f"shape {a.shape}")
    return ends, arrays


def _pick_roles(arrays: dict, key_map: dict, src, report: Report) -> dict:
    """{role: data/ key} for each role the buffer has: key_map's key (which must exist), else the first of
    DEFAULT_KEYS[role] present; an action array is required."""
    roles = {}
    for role, names in DEFAULT_KEYS.items():
        key = key_map.get(role) or next((k for k in names if k in arrays), None)
        if key is not None:
            if key not in arrays:
                raise SourceLayoutError(src, f"data/{key} (mapped to {role})", f"arrays {sorted(arrays)}")
            roles[role] = key
            report.note(f"{role} from data/{key}")
    if "actions" not in roles:
        raise SourceLayoutError(src, "an action array data/action", f"arrays {sorted(arrays)}",
                                "map one with key_map / --map actions=KEY")
    return roles


def _cameras_and_columns(arrays: dict, roles: dict, rename: dict, report: Report):
    """({data/ key: camera name} for the (N, H, W, C) numeric arrays, {data/ key: column name} for the other storable
    arrays); arrays in a role are neither, unstorable ones are reported skipped."""
    cameras, columns = {}, {}
    for k, a in arrays.items():
        if k in roles.values():
            continue
        if camera_shaped(a.shape) and np.dtype(a.dtype).kind in "uif":
            cameras[k] = rename.get(k, k)
        elif not skip_if_unstorable(np.empty((0,) + a.shape[1:], a.dtype), f"data/{k}", report, stacklevel=5):
            columns[k] = rename.get(k, k)  # (stacklevel 5: a skip warns at ingest_zarr's caller, as it always did)
    return cameras, columns


def _episode(src, i, start, stop, arrays, roles, cameras, columns, report) -> dict:
    """Rows [start, stop) as Writer.add_episode kwargs: episode ``i``."""
    t = stop - start

    def rows(key):
        return np.asarray(arrays[key][start:stop])

    ep = {"actions": role_float("actions", rows(roles["actions"]).reshape(t, -1), report), "episode_id": i,
          "source": f"episode {i} (rows {start}..{stop})"}
    role_rows = {roles[role]: rows(roles[role]) for role in ("states", "rewards") if role in roles}
    fields, _ = states_and_rewards(role_rows, roles, t, report)
    ep.update(fields)
    done = None
    if "is_terminal" in roles:
        done = require_zero_one(rows(roles["is_terminal"]).reshape(t), src, f"data/{roles['is_terminal']}")
    ep["is_terminal"] = terminal_flags(done, t, report)
    if cameras:
        ep["images"] = {name: to_uint8_image(rows(k), f"{src}: data/{k}", first_row=start)
                        for k, name in cameras.items()}
    if columns:
        ep["columns"] = {name: rows(k) for k, name in columns.items()}
    return ep


def to_uint8_image(arr: np.ndarray, label: str, first_row: int = 0) -> np.ndarray:
    """uint8 frames from uint8 or from integer-valued numbers in 0..255; anything else raises (no rounding).
    ``first_row`` (the source row of ``arr[0]``) only labels the error."""
    if arr.dtype == np.uint8:
        return arr
    if arr.size:
        lo, hi = arr.min(), arr.max()
        if not (lo >= 0 and hi <= 255):
            raise SourceLayoutError(label, "image values in 0..255", f"values in [{float(lo)}, {float(hi)}]",
                                    "kinonb stores camera frames as uint8")
        if arr.dtype.kind == "f":
            bad = arr != np.floor(arr)
            if bad.any():
                at = tuple(int(x) for x in np.argwhere(bad)[0])
                raise SourceLayoutError(label, "integer image values 0..255 (exact conversion to uint8)",
                                        f"{float(arr[at])} at row {first_row + at[0]}, pixel {at[1:]}")
    return arr.astype(np.uint8)
