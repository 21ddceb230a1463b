"""NumPy ``.npz`` sources (no extra): a folder of per-episode files, or one file of concatenated episodes.

Layouts (the field map, :mod:`.field_map`, and :mod:`.generic` say what becomes what):

    folder/ep_000.npz, ep_001.npz, ...    one episode per file, in natural name order (ep_2 before ep_10), each
                                          with an optional ``ep_000.json`` / ``ep_000.meta.json`` beside it
    folder/ep_000/{*.npz, meta.json}      one episode per sub-folder (one .npz each), the same way
    one.npz with episode_ends             concatenated episodes: every array with N rows is split at
                                          ``episode_ends`` (or ``meta/episode_ends``; ascending, last == N);
                                          episode i is rows [ends[i-1], ends[i]); a ``data/`` prefix is dropped
    one.npz without episode_ends          one episode

A meta.json holds a JSON object; it becomes the episode's ``meta`` subtree (``meta.task``, ``meta.fps``,
``meta.success`` are read by default; the other keys go into attrs). npz keys holding ``/`` nest
(``obs/qpos`` is ``obs.qpos``). The episode id is the position.

Every file is untrusted: arrays are read with ``allow_pickle=False`` (an object array is skipped and reported),
and each array's header must announce no more bytes than its zip member holds, so a forged header cannot make
the reader allocate more than the file's own data; a meta.json over 1 MiB is refused.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np

from . import Report, SourceLayoutError, require_exists
from .generic import write_trees

MAX_META_BYTES = 1 << 20
DEFLATE_MAX_RATIO = 1100  # deflate expands at most ~1032:1


def natural_key(name: str):
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", name)]


def _header(fmt, f, version):
    """(shape, fortran_order, dtype) of an .npy header: numpy's own readers (1.0, 2.0; 3.0 by its private one)."""
    if version == (1, 0):
        return fmt.read_array_header_1_0(f)
    if version == (2, 0):
        return fmt.read_array_header_2_0(f)
    impl = getattr(getattr(np.lib, "_format_impl", None), "_read_array_header", None)
    if impl is None:
        raise ValueError(f".npy format version {version} is not supported")
    return impl(f, version)


def _member_array(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> np.ndarray:
    """One ``.npy`` member, its header checked against the member's size before anything is allocated."""
    fmt = np.lib.format
    with zf.open(info) as f:
        try:
            version = fmt.read_magic(f)
            shape, _, dtype = _header(fmt, f, version)
        except ValueError as e:
            raise SourceLayoutError(label, f"an .npy array in member {info.filename!r}", str(e)) from None
        if dtype.hasobject:
            raise ValueError("an object array (pickled Python objects; kinonb loads no pickles from .npz)")
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        limit = info.file_size if info.compress_type == zipfile.ZIP_STORED else \
            min(info.file_size, info.compress_size * DEFLATE_MAX_RATIO)
        if nbytes > limit:
            raise SourceLayoutError(label, f"member {info.filename!r} holding the {nbytes} bytes its header "
                                    f"announces (shape {shape}, {dtype})", f"a member of {info.file_size} bytes",
                                    "file seems truncated or forged")
    with zf.open(info) as f:
        return fmt.read_array(f, allow_pickle=False)


def read_npz(path, report: Report | None = None) -> dict:
    """{key: array} of an .npz file, keys holding ``/`` nested; object arrays are skipped (reported)."""
    label = str(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise SourceLayoutError(label, "an .npz file (a zip of .npy arrays)", str(e)) from None
    flat = {}
    with zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            key = info.filename[:-4]
            try:
                flat[key] = _member_array(zf, info, label)
            except ValueError as e:
                if isinstance(e, SourceLayoutError):
                    raise
                if report is None:
                    raise SourceLayoutError(label, f"a numeric array in {key!r}", str(e)) from None
                report.skip(f"{Path(label).name}: {key!r}", str(e), stacklevel=4)
    return nest(flat)


def nest(flat: dict) -> dict:
    """``{"obs/qpos": a}`` as ``{"obs": {"qpos": a}}``; a key whose parent is itself a leaf stays flat."""
    tree: dict = {}
    for key in sorted(flat, key=lambda k: k.count("/")):
        node, parts = tree, key.strip("/").split("/")
        for part in parts[:-1]:
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                node = None
                break
            node = nxt
        if node is None or parts[-1] in node:
            tree[key] = flat[key]
        else:
            node[parts[-1]] = flat[key]
    return tree


def read_meta_json(path: Path) -> dict:
    """A meta.json's object (at most MAX_META_BYTES)."""
    size = path.stat().st_size
    if size > MAX_META_BYTES:
        raise SourceLayoutError(path, f"a meta.json of at most {MAX_META_BYTES} bytes", f"{size} bytes")
    try:
        value = json.loads(path.read_bytes())
    except (UnicodeDecodeError, ValueError) as e:
        raise SourceLayoutError(path, "a JSON object", f"invalid JSON ({e})") from None
    if not isinstance(value, dict):
        raise SourceLayoutError(path, "a JSON object", type(value).__name__)
    return value


def episode_files(root: Path) -> list[tuple[Path, Path | None]]:
    """[(the .npz, its meta.json or None)] of a folder of per-episode files or sub-folders, in natural order."""
    out = []
    for npz in sorted(root.glob("*.npz"), key=lambda p: natural_key(p.name)):
        meta = next((m for m in (npz.with_suffix(".json"), npz.with_suffix(".meta.json")) if m.is_file()), None)
        out.append((npz, meta))
    if out:
        return out
    for sub in sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)):
        files = sorted(sub.glob("*.npz"), key=lambda p: natural_key(p.name))
        if len(files) > 1:
            raise SourceLayoutError(sub, "one .npz per episode folder", f"{[f.name for f in files][:8]}")
        if files:
            meta = sub / "meta.json"
            out.append((files[0], meta if meta.is_file() else None))
    return out


def ingest_npz(src, out, **options) -> Report:
    """Convert a folder of per-episode .npz files or one .npz (see the module docstring) to .knb."""
    require_exists(src)
    root = Path(src)
    report = Report("ingest", source=str(src), output=str(out), format="npz")
    if root.is_dir():
        files = episode_files(root)
        if not files:
            raise SourceLayoutError(root, "*.npz files (one per episode) or sub-folders holding one each",
                                    f"entries {sorted(p.name for p in root.iterdir())[:20]}")
        report.note(f"a folder of {len(files)} per-episode .npz files")

        def read(i):
            npz, meta = files[i]
            tree = read_npz(npz, report)
            if meta is not None:
                tree["meta"] = read_meta_json(meta)
            return str(npz.relative_to(root)), tree, i

        return write_trees(src, out, "npz", read, len(files), report=report, **options)
    tree = read_npz(root, report)
    ends_key = next((k for k in ("episode_ends", "meta.episode_ends") if _has(tree, k)), None)
    if ends_key is None:
        report.note("one .npz without episode_ends: one episode")
        return write_trees(src, out, "npz", lambda i: (root.name, tree, 0), 1, report=report, **options)
    ends = _pop(tree, ends_key)
    arrays = tree.pop("data") if set(tree) - {"meta"} == {"data"} and isinstance(tree["data"], dict) else tree
    return ingest_concatenated(src, out, "npz", arrays, ends, report=report, **options)


def _has(tree: dict, dotted: str) -> bool:
    head, _, tail = dotted.partition(".")
    return head in tree and (not tail or (isinstance(tree[head], dict) and tail in tree[head]))


def _pop(tree: dict, dotted: str):
    head, _, tail = dotted.partition(".")
    if not tail:
        return tree.pop(head)
    value = tree[head].pop(tail)
    if not tree[head]:
        del tree[head]
    return value


def check_ends(ends, src) -> np.ndarray:
    """``episode_ends`` as int64, checked: 1-D integers, strictly increasing from > 0."""
    arr = np.asarray(ends)
    if arr.dtype.kind not in "iu" or arr.ndim != 1:
        raise SourceLayoutError(src, "episode_ends: 1-D integers", f"dtype {arr.dtype}, shape {arr.shape}")
    arr = arr.astype(np.int64)
    if len(arr) and (arr[0] <= 0 or np.any(np.diff(arr) <= 0)):
        raise SourceLayoutError(src, "episode_ends strictly increasing and > 0 (no empty episode)",
                                f"{arr[:10].tolist()}")
    return arr


def ingest_concatenated(src, out, fmt: str, arrays: dict, ends, *, report: Report | None = None,
                        **options) -> Report:
    """Episodes concatenated along the rows of ``arrays`` ({key: array-like, or a dict of them}; N rows each), split
    at ``ends``: what a flat .npz and a flat zarr group with episode_ends share. Leaves without N rows are
    reported skipped (metadata leaves, 0-d or str, go into every episode)."""
    report = report or Report("ingest", source=str(src), output=str(out), format=fmt)
    ends = check_ends(ends, src)
    n = int(ends[-1]) if len(ends) else 0
    rows, shared = {}, {}
    for key, leaf in _leaves(arrays):
        shape = getattr(leaf, "shape", ())
        if len(shape) and shape[0] == n and np.dtype(leaf.dtype).kind in "biuf":
            rows[key] = leaf
        elif len(shape) == 0:
            shared[key] = leaf
        else:
            report.skip(f"{key!r}", f"not {n} rows (episode_ends[-1]): shape {tuple(shape)}", stacklevel=3)
    report.note(f"{len(ends)} concatenated episodes split at episode_ends")

    def read(i):
        start, stop = int(ends[i - 1]) if i else 0, int(ends[i])
        tree = nest({k: np.asarray(a[start:stop]) for k, a in rows.items()})
        tree.update({k: np.asarray(v[()]) for k, v in shared.items()})
        return f"episode {i} (rows {start}..{stop})", tree, i

    return write_trees(src, out, fmt, read, len(ends), report=report, **options)


def _leaves(tree, prefix=""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}/")
        else:
            yield f"{prefix}{key}", value
