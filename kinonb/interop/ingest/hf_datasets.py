"""Hugging Face ``datasets`` folders written by ``save_to_disk`` (extra ``lerobot``: pyarrow; the ``datasets``
library itself is not needed: the Arrow files are read with pyarrow, memory-mapped, offline).

Layouts:

    folder/state.json + data-*.arrow        a Dataset (``_data_files`` in state.json name the Arrow IPC streams)
    folder/dataset_dict.json + <split>/     a DatasetDict: ``split`` / ``--split`` picks one (default: train,
                                            else the first); the others are reported skipped
    folder/*.parquet, folder/data/*.parquet the same tables as parquet (a push_to_hub layout)

This is how LeRobot tabular data travels without ``meta/info.json`` (an SO-101 export: ``action``,
``observation.state``, ``episode_index``, ``frame_index``, ``timestamp``, ...). Rows are grouped by
``episode_index`` (``--map episode_index=COLUMN`` names another; without one the table is one episode) in
ascending order, which becomes the episode id, and ordered by ``frame_index`` within each episode. Each
episode is then a tree of its columns for the field map (:mod:`.field_map`, :mod:`.generic`): ``action`` ->
actions, ``observation.state`` -> states, ``timestamp`` -> timestamps (float32 seconds widened to float64,
exactly), other numeric columns -> extra columns. Image columns (``{bytes, path}`` structs of PNG / JPEG,
Pillow) -> cameras; a string column (``task``) gives its first value.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import Report, SourceLayoutError, require, require_exists
from .generic import write_trees

MAX_JSON_BYTES = 1 << 20


def _json(path: Path):
    if path.stat().st_size > MAX_JSON_BYTES:
        raise SourceLayoutError(path, f"a JSON file of at most {MAX_JSON_BYTES} bytes", f"{path.stat().st_size}")
    try:
        return json.loads(path.read_bytes())
    except ValueError as e:
        raise SourceLayoutError(path, "JSON", str(e)) from None


def dataset_folder(root: Path, split: str | None, report: Report) -> Path:
    """The Dataset folder to read: ``root``, or a DatasetDict's split folder."""
    dd = root / "dataset_dict.json"
    if not dd.is_file():
        if split is not None:
            raise SourceLayoutError(root, f"a DatasetDict (dataset_dict.json) with split {split!r}", "a Dataset")
        return root
    splits = _json(dd).get("splits") if isinstance(_json(dd), dict) else None
    if not isinstance(splits, list) or not all(isinstance(s, str) for s in splits) or not splits:
        raise SourceLayoutError(dd, "a list of split names under 'splits'", f"{splits!r:.80}")
    chosen = split or ("train" if "train" in splits else splits[0])
    if chosen not in splits:
        raise SourceLayoutError(dd, f"split {chosen!r}", f"splits {splits}", "pass --split NAME")
    for other in splits:
        if other != chosen:
            report.skip(f"split {other!r}", f"one split is read ({chosen!r}); pass --split {other} for it")
    report.note(f"split {chosen!r} of the DatasetDict")
    return root / chosen


def read_table(folder: Path):
    """The Dataset's rows as one pyarrow Table (Arrow streams memory-mapped, or parquet), fully validated."""
    pa = require("pyarrow", "lerobot", "Hugging Face datasets ingest")
    state = folder / "state.json"
    if state.is_file():
        files = _json(state).get("_data_files") if isinstance(_json(state), dict) else None
        if not isinstance(files, list) or not files:
            raise SourceLayoutError(state, "a list of Arrow files under '_data_files'", f"{files!r:.80}")
        tables = []
        for entry in files:
            name = entry.get("filename") if isinstance(entry, dict) else None
            path = folder / str(name)
            if not isinstance(name, str) or Path(name).name != name or not path.is_file():
                raise SourceLayoutError(state, "_data_files naming Arrow files in the folder", f"{entry!r:.80}")
            try:
                tables.append(pa.ipc.open_stream(pa.memory_map(str(path))).read_all())
            except pa.ArrowInvalid as e:
                raise SourceLayoutError(path, "an Arrow IPC stream (save_to_disk)", str(e)) from None
    else:
        pq = require("pyarrow.parquet", "lerobot", "Hugging Face datasets ingest")
        paths = sorted(folder.glob("*.parquet")) or sorted(folder.glob("data/*.parquet"))
        if not paths:
            raise SourceLayoutError(folder, "state.json and data-*.arrow (save_to_disk), or *.parquet files",
                                    f"entries {sorted(p.name for p in folder.iterdir())[:20]}")
        tables = [pq.read_table(p) for p in paths]
    try:
        table = pa.concat_tables(tables)
        table.validate(full=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise SourceLayoutError(folder, "Arrow files of one schema", str(e)) from None
    return table


def episode_rows(table, key: str | None, report: Report) -> list[tuple[int, np.ndarray]]:
    """[(episode index, its row numbers in frame_index order)], episodes ascending."""
    from .lerobot import column_to_numpy

    n = table.num_rows
    frames = column_to_numpy(table.column("frame_index")).reshape(-1) if "frame_index" in table.column_names \
        else np.arange(n)
    if key is None or key not in table.column_names:
        if key is not None:
            raise SourceLayoutError(report.source, f"a column {key!r} (mapped to episode_index)",
                                    f"columns {table.column_names}")
        report.note("no episode_index column: the table is one episode")
        return [(0, np.argsort(frames, kind="stable"))]
    ep = column_to_numpy(table.column(key)).reshape(-1)
    if ep.dtype.kind not in "iu":
        raise SourceLayoutError(report.source, f"integer {key!r}", f"dtype {ep.dtype}")
    order = np.lexsort((frames, ep))
    cuts = np.flatnonzero(np.diff(ep[order])) + 1
    report.note(f"episodes from the column {key!r} (the episode id), frames ordered by frame_index")
    return [(int(ep[rows[0]]), rows) for rows in np.split(order, cuts) if len(rows)]


def episode_tree(table, rows: np.ndarray, skip: set, report: Report) -> dict:
    """{column: (T, ...) array, or the first value of a string column} for the rows of one episode."""
    import pyarrow as pa

    from .lerobot import column_to_numpy

    part = table.take(pa.array(rows))
    tree = {}
    for name in part.column_names:
        if name in skip:
            continue
        col = part.column(name)
        if pa.types.is_struct(col.type) and col.type.get_field_index("bytes") >= 0:
            tree[name] = _images(col, name, report)
        elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            values = col.to_pylist()
            tree[name] = values[0] if values else ""
        else:
            try:
                tree[name] = column_to_numpy(col)
            except Exception as e:  # noqa: BLE001 - pyarrow raises many kinds for unconvertible columns
                report.skip(f"column {name!r}", f"not a numeric per-frame array ({e})")
    return tree


def _images(col, name: str, report: Report) -> np.ndarray:
    """An image column's PNG / JPEG frames as uint8 (T, H, W, C); the size is read from the first frame's
    header and every frame must have it."""
    from ..image_codecs import _pillow, decode_image

    cells = col.combine_chunks().field("bytes").to_pylist()
    if not cells or any(not c for c in cells):
        raise SourceLayoutError(report.source, f"PNG/JPEG bytes in every row of image column {name!r}",
                                "an empty cell (images stored as paths are not supported)")
    import io

    with _pillow().open(io.BytesIO(cells[0])) as im:
        (w, h), c = im.size, {"L": 1, "RGB": 3, "RGBA": 4}.get(im.mode, 3)
    out = np.empty((len(cells), h, w, c), np.uint8)
    for t, data in enumerate(cells):
        out[t] = decode_image(data, w, h, c)
    return out


def ingest_hf_datasets(src, out, *, split=None, key_map=None, **options) -> Report:
    """Convert a ``save_to_disk`` folder (see the module docstring) to .knb."""
    require_exists(src)
    root = Path(src)
    if not root.is_dir():
        raise SourceLayoutError(root, "a datasets folder (save_to_disk)", "a file")
    report = Report("ingest", source=str(src), output=str(out), format="hf_datasets")
    key_map = dict(key_map or {})
    ep_key = key_map.pop("episode_index", "episode_index")
    table = read_table(dataset_folder(root, split, report))
    if ep_key == "episode_index" and ep_key not in table.column_names:
        ep_key = None
    rows = episode_rows(table, ep_key, report)

    def read(i):
        index, at = rows[i]
        return f"episode_index {index}", episode_tree(table, at, {ep_key}, report), index

    return write_trees(src, out, "hf_datasets", read, len(rows), report=report, key_map=key_map, **options)
