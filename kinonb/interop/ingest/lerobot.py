"""LeRobot datasets, codebase v2.0 / v2.1 and v3.0 (extra ``lerobot``: pyarrow; image columns need Pillow).

Expected layout: ``meta/info.json`` (codebase_version, features, fps, robot_type, data_path, chunks_size), the
episode metadata (v2.x: ``meta/episodes.jsonl``; v3.0: ``meta/episodes/chunk-*/file-*.parquet``), the tasks
(``meta/tasks.jsonl`` / ``meta/tasks.parquet``) and the parquet data files named by ``data_path``. Episodes are
ingested in ascending ``episode_index``, which becomes the episode id.

    action                 -> actions (float16/32/64 as stored; other numbers as float32)
    observation.state      -> states (likewise)
    next.reward            -> rewards; total_reward = their float64 sum
    next.done              -> is_terminal (else True on the last frame only, kinodb's convention)
    next.success           -> success = its last value (also kept as a column)
    features of dtype image-> cameras (PNG/JPEG bytes in the parquet, decoded to uint8 (T, H, W, C))
    features of dtype video-> cameras holding the mp4's packets, copied (no re-encode; v3.0 files are cut at
                              episode boundaries: :mod:`.lerobot_video`); a missing mp4 is reported per episode
                              and camera (:mod:`.lerobot_cameras`); ``transcode="jpeg"|"lz4"|"raw"`` decodes
                              the frames and stores them that way instead
    other numeric columns  -> extra columns under their own names (timestamp, frame_index, index, ...)
    episode tasks          -> task (the first); all of them in attrs["tasks"] when an episode has several
    robot_type, fps        -> embodiment, fps;  info.splits -> attrs["split"]
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...errors import InvalidArgumentError
from . import (
    Report,
    SourceLayoutError,
    check_options,
    non_empty,
    renames,
    require,
    require_zero_one,
    role_float,
    role_keys,
    selected,
    states_and_rewards,
    terminal_flags,
    write_ingest,
)
from .cameras import check_transcode
from .lerobot_cameras import VideoCameras

ROLE_KEYS = {"actions": "action", "states": "observation.state", "rewards": "next.reward", "is_terminal": "next.done"}
SUPPORTED = ("v2.0", "v2.1", "v3.0")
META_FROM = {"task": "each episode's tasks in meta/ (its first)",
             "embodiment": "meta/info.json robot_type", "fps": "meta/info.json fps"}


def ingest_lerobot(src, out, *, embodiment=None, task=None, fps=None, max_episodes=None, compression=None,
                   key_map=None, transcode=None, overwrite=False, progress=None, episodes=None) -> Report:
    """Convert a LeRobot v2.x / v3.0 dataset directory to .knb (see the module docstring for the mapping)."""
    key_map = check_options(fps=fps, max_episodes=max_episodes, compression=compression, key_map=key_map)
    compression = check_transcode(transcode, compression)
    pq = require("pyarrow.parquet", "lerobot", "LeRobot ingest")
    root = Path(src)
    if not root.is_dir():
        raise SourceLayoutError(root, "a LeRobot dataset directory", "no such directory" if not root.exists()
                                else "a file")
    info_path = root / "meta" / "info.json"
    if not info_path.is_file():
        found = sorted(p.name for p in root.iterdir())
        raise SourceLayoutError(root, "meta/info.json (a LeRobot dataset root)", f"entries {found[:20]}")
    info = json.loads(info_path.read_text())
    version = str(info.get("codebase_version", "?"))
    if version not in SUPPORTED:
        raise SourceLayoutError(info_path, f"codebase_version in {SUPPORTED}", repr(version))
    report = Report("ingest", source=str(src), output=str(out), format="lerobot")
    report.note(f"LeRobot {version}")
    features = info.get("features") or {}
    roles = role_keys(key_map, ROLE_KEYS)
    if roles["actions"] not in features:
        raise SourceLayoutError(info_path, f"a feature {roles['actions']!r} for actions",
                                f"features {sorted(features)}", "map one with key_map / --map actions=KEY")
    rename = renames(key_map)
    for key, feat in features.items():
        if feat.get("dtype") == "string":
            report.skip(f"column {key!r}", "text per frame (kinonb columns are numeric)")
    tasks = _tasks(root, pq)
    table = _episode_table(root, info, version, pq)
    chosen = selected(len(table), max_episodes, episodes)
    table = table[chosen.start:chosen.stop]
    splits = _splits(info)
    videos = VideoCameras(root, info, version, features, rename, report, transcode)

    def gen():
        cache = {}
        for row in table:
            rows = _episode_rows(root, info, version, row, pq, cache)
            ep = _episode(rows, row, features, roles, rename, tasks, splits, info, report)
            ep.update(non_empty(images={**ep.get("images", {}), **videos(row, rows.num_rows)}))
            yield ep

    write_ingest(out, gen(), report, compression=compression, overwrite=overwrite, progress=progress,
                 total=len(table), embodiment=embodiment, task=task, fps=fps, meta_from=META_FROM)
    videos.finish()
    return report


def _tasks(root: Path, pq) -> dict:
    jsonl, parquet = root / "meta" / "tasks.jsonl", root / "meta" / "tasks.parquet"
    out = {}
    if jsonl.is_file():
        for line in jsonl.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                out[int(rec["task_index"])] = str(rec["task"])
    elif parquet.is_file():
        t = pq.read_table(parquet)
        names = t.column_names
        text_col = "task" if "task" in names else next((n for n in names if n != "task_index"), None)
        if "task_index" in names and text_col:
            for i, s in zip(t.column("task_index").to_pylist(), t.column(text_col).to_pylist()):
                out[int(i)] = str(s)
    return out


def _episode_table(root: Path, info: dict, version: str, pq) -> list[dict]:
    meta = root / "meta"
    if version.startswith("v2"):
        path = meta / "episodes.jsonl"
        if not path.is_file():
            raise SourceLayoutError(root, "meta/episodes.jsonl (LeRobot v2.x)", f"meta/ holds "
                                    f"{sorted(p.name for p in meta.iterdir())}")
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    else:
        files = sorted((meta / "episodes").glob("chunk-*/file-*.parquet"))
        if not files:
            raise SourceLayoutError(root, "meta/episodes/chunk-*/file-*.parquet (LeRobot v3.0)",
                                    f"meta/ holds {sorted(p.name for p in meta.iterdir())}")
        rows = []
        for f in files:
            t = pq.read_table(f, columns=[c for c in pq.read_schema(f).names if not c.startswith("stats/")])
            rows.extend(t.to_pylist())
    return sorted(rows, key=lambda r: int(r["episode_index"]))


def _splits(info: dict) -> list[tuple[str, int, int]]:
    out = []
    for name, spec in (info.get("splits") or {}).items():
        try:
            a, b = (int(x) for x in str(spec).split(":"))
        except ValueError:
            continue
        out.append((name, a, b))
    return out


def _episode_rows(root: Path, info: dict, version: str, row: dict, pq, cache: dict):
    ep = int(row["episode_index"])
    template = info.get("data_path")
    if not template:
        raise SourceLayoutError(root / "meta" / "info.json", "a data_path template", "none")
    if version.startswith("v2"):
        chunk = ep // int(info.get("chunks_size") or 1000)
        path = root / template.format(episode_chunk=chunk, episode_index=ep)
    else:
        path = root / template.format(chunk_index=int(row["data/chunk_index"]), file_index=int(row["data/file_index"]))
    if not path.is_file():
        raise SourceLayoutError(root, f"the data file {path.relative_to(root)} of episode {ep}", "no such file")
    if str(path) not in cache:
        cache.clear()  # one data file in memory at a time (v3 files hold many episodes)
        cache[str(path)] = pq.read_table(path)
    table = cache[str(path)]
    if version.startswith("v3") or "episode_index" in table.column_names:
        import pyarrow.compute as pc

        if "episode_index" in table.column_names:
            table = table.filter(pc.equal(table.column("episode_index"), ep))
    length = row.get("length")
    if length is not None and table.num_rows != int(length):
        raise SourceLayoutError(path, f"{length} rows for episode {ep} (meta episodes length)",
                                f"{table.num_rows} rows")
    if table.num_rows == 0:
        raise SourceLayoutError(path, f"rows of episode {ep}", "none")
    return table


def column_to_numpy(column, shape=None) -> np.ndarray:
    """A pyarrow column of scalars or (nested) fixed / variable lists as one (T, ...) numpy array."""
    import pyarrow as pa

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if arr.null_count:
        raise InvalidArgumentError(f"{arr.null_count} null values")
    t = len(arr)
    dims = []
    while pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type) or pa.types.is_fixed_size_list(arr.type):
        if pa.types.is_fixed_size_list(arr.type):
            n = arr.type.list_size
            arr = arr.flatten()
        else:
            lengths = np.diff(np.asarray(arr.offsets))
            if len(lengths) and (lengths != lengths[0]).any():
                raise InvalidArgumentError(f"lists of different lengths {sorted(set(lengths.tolist()))[:5]}")
            n = int(lengths[0]) if len(lengths) else 0
            arr = arr.flatten()
        if arr.null_count:
            raise InvalidArgumentError(f"{arr.null_count} null list items")
        dims.append(n)
    values = arr.to_numpy(zero_copy_only=False)
    out = np.asarray(values).reshape((t, *dims))
    if shape is not None and len(dims) and int(np.prod(out.shape[1:])) == int(np.prod(shape)) and \
            tuple(out.shape[1:]) != tuple(shape):
        out = out.reshape((t, *shape))
    return out


def _image_frames(column, feat: dict, key: str, report: Report) -> np.ndarray:
    from ..image_codecs import decode_image

    shape = [int(x) for x in feat.get("shape", [])]
    names = [str(n).lower() for n in (feat.get("names") or [])]
    if len(shape) != 3:
        raise SourceLayoutError(report.source, f"an (H, W, C) shape for image feature {key!r}", f"{shape}")
    if names[:1] in (["channel"], ["channels"]):  # (C, H, W)
        c, h, w = shape
    else:
        h, w, c = shape
    rows = column.to_pylist()
    out = np.empty((len(rows), h, w, c), np.uint8)
    for t, cell in enumerate(rows):
        data = cell.get("bytes") if isinstance(cell, dict) else cell
        if not data:
            raise SourceLayoutError(report.source, f"PNG/JPEG bytes in image column {key!r} row {t}",
                                    f"{cell!r:.80}", "images stored as paths are not supported")
        try:
            out[t] = decode_image(data, w, h, c)
        except ValueError as e:
            raise SourceLayoutError(report.source, f"a decodable image in column {key!r} row {t}", str(e)) from None
    return out


def _episode(table, row, features, roles, rename, tasks, splits, info, report: Report) -> dict:
    """One episode's rows as Writer.add_episode kwargs (see the module docstring for the mapping)."""
    ep_index = int(row["episode_index"])
    arrays, image_names = _frame_arrays(table, features, report)
    akey = roles["actions"]
    if akey not in arrays:
        raise SourceLayoutError(report.source, f"column {akey!r} in episode {ep_index}'s data",
                                f"columns {table.column_names}")
    t = table.num_rows
    ep = {"actions": role_float(akey, arrays[akey].reshape(t, -1), report), "episode_id": ep_index,
          "source": f"episode_index {ep_index}"}
    fields, used = states_and_rewards(arrays, roles, t, report, labels=roles)
    ep.update(fields)
    used.add(akey)
    ep["is_terminal"] = _terminal(arrays, roles["is_terminal"], t, used, report)
    if "next.success" in arrays:
        ep["success"] = bool(arrays["next.success"].reshape(-1)[-1])
    ep.update(_images_and_columns(arrays, image_names, used, rename))
    ep.update(_task_and_attrs(row, arrays, tasks, splits, ep_index))
    ep["embodiment"] = str(info.get("robot_type") or "")
    ep["fps"] = float(info.get("fps") or 0.0)
    return ep


def _frame_arrays(table, features: dict, report: Report):
    """({column: (T, ...) array} in column order, the names of the image columns, decoded to uint8); video and text
    features are left out (ingest_lerobot reports them), other columns that are not numeric are reported skipped."""
    arrays, image_names = {}, set()
    for name in table.column_names:
        feat = features.get(name, {})
        if feat.get("dtype") in ("video", "string"):
            continue
        if feat.get("dtype") == "image":
            arrays[name] = _image_frames(table.column(name), feat, name, report)
            image_names.add(name)
            continue
        try:
            arr = column_to_numpy(table.column(name), feat.get("shape"))
        except Exception as e:  # noqa: BLE001 - pyarrow raises many kinds for unconvertible columns
            report.skip(f"column {name!r}", f"not a numeric per-frame array ({e})")
            continue
        if arr.dtype.kind not in "biuf":
            report.skip(f"column {name!r}", f"dtype {arr.dtype} is not numeric")
            continue
        arrays[name] = arr
    return arrays, image_names


def _terminal(arrays: dict, key: str, t: int, used: set, report: Report) -> np.ndarray:
    """is_terminal from the 0/1 column ``key`` (next.done), else True on the last frame only."""
    done = None
    if key in arrays:
        used.add(key)
        done = require_zero_one(arrays[key].reshape(t), report.source, repr(key), "{values}")
    return terminal_flags(done, t, report, "no next.done: is_terminal True on the last frame only")


def _images_and_columns(arrays: dict, image_names: set, used: set, rename: dict) -> dict:
    """images (cameras) and columns (extra columns) of the arrays no role used, under their key_map names."""
    images, columns = {}, {}
    for name, arr in arrays.items():
        if name not in used:
            (images if name in image_names else columns)[rename.get(name, name)] = arr
    return non_empty(images=images, columns=columns)


def _task_and_attrs(row: dict, arrays: dict, tasks: dict, splits, ep_index: int) -> dict:
    """task (the episode's first) and attrs (all its tasks when it has several; the split holding it)."""
    ep_tasks = [str(x) for x in (row.get("tasks") or [])]
    if not ep_tasks and "task_index" in arrays:
        ep_tasks = [tasks.get(int(i), "") for i in dict.fromkeys(arrays["task_index"].reshape(-1).tolist())]
    attrs = {}
    if len(ep_tasks) > 1:
        attrs["tasks"] = ep_tasks
    split = [name for name, a, b in splits if a <= ep_index < b]
    if split:
        attrs["split"] = split[0] if len(split) == 1 else split
    return {"task": ep_tasks[0] if ep_tasks else "", "attrs": attrs or None}
