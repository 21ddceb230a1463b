"""Write kinodb ``.kdb`` v0.1 files, byte for byte as kinodb's ``KdbWriter::create`` (raw images) does.

Given the same episodes and ``created_timestamp``, the output equals kinodb's, with these deliberate
differences (kinodb 7a9b2e4 writes a file that reads back wrong in each case; kinonb refuses or fixes it):

- Strings (embodiment, task, camera names) over 65,535 UTF-8 bytes raise SchemaError; kinodb wraps the u16
  length and corrupts the record.
- Images are always written as format 0 (raw). kinodb marks raw pixels that happen to start with JPEG/PNG
  magic as compressed, and its reader then drops them.
- Per-episode arrays have one state_dim for all frames by construction (kinodb keeps frame 0's and misreads
  later frames of other lengths). Every camera must be present in every frame, as (T, H, W, C) uint8.
- A ``meta`` whose num_frames / action_dim / state_dim / cameras disagree with the arrays is refused
  (kinodb ignores meta.num_frames). Episodes with 0 frames are refused, as kinodb does.

The file is written to ``<path>.tmp`` and renamed into place once complete.
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import SchemaError
from ..format import success as success_code
from ..store.atomic import atomic_output
from . import kdb_layout as L

_U16_MAX = 0xFFFF
_U32_MAX = 0xFFFFFFFF


def write_kdb(path, episodes, *, created_timestamp: int | None = None, keep_episode_ids: bool = False,
              overwrite: bool = True) -> int:
    """Write ``episodes`` (dicts shaped like ``KdbDatabase.read_episode`` output) to a ``.kdb`` file.

    Each episode needs ``actions`` (T, A); ``states`` (T, S), ``rewards`` (T,), ``is_terminal`` (T,) and
    ``images`` ({camera: (T, H, W, C) uint8}) default to empty / zeros / False / no cameras. From ``meta``
    the writer uses embodiment, task, fps, success (None/bool) and total_reward (None/float).
    Floats are stored as f32. Episode ids are positions, as kinodb assigns them, unless
    ``keep_episode_ids`` is set (then ``meta["episode_id"]`` is stored). Returns the number of episodes.
    The file appears atomically (:func:`kinonb.store.atomic.atomic_output`); ``overwrite=False`` keeps an
    existing ``path``.
    """
    entries = []
    total_frames = 0
    with atomic_output(path, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as f:
            f.write(bytes(L.HEADER_SIZE))
            pos = L.HEADER_SIZE
            for n, ep in enumerate(episodes):
                meta_blob, lowdim, images, entry = _encode_episode(n, ep, keep_episode_ids)
                entry["meta_offset"], entry["meta_length"] = pos, len(meta_blob)
                entry["actions_offset"] = pos + len(meta_blob)
                entry["actions_length"] = lowdim.nbytes
                entry["images_offset"] = entry["actions_offset"] + lowdim.nbytes
                f.write(meta_blob)
                f.write(lowdim.data)
                size = 0
                for chunk in images:
                    f.write(chunk)
                    size += memoryview(chunk).nbytes
                entry["images_length"] = size
                pos = entry["images_offset"] + size
                entries.append(entry)
                total_frames += entry["num_frames"]
            index = np.zeros(len(entries), L.INDEX_ENTRY_DTYPE)
            for field in L.INDEX_ENTRY_DTYPE.names:
                index[field] = [entry[field] for entry in entries]
            f.write(index.tobytes())
            header = np.zeros((), L.HEADER_DTYPE)
            header["magic"] = L.MAGIC
            header["version_major"], header["version_minor"] = L.VERSION
            header["num_episodes"] = len(entries)
            header["num_frames"] = total_frames
            header["index_offset"] = pos
            header["index_length"] = index.nbytes
            header["created_timestamp"] = int(time.time()) if created_timestamp is None else created_timestamp
            f.seek(0)
            f.write(header.tobytes())
    return len(entries)


def kdb_problem(meta: dict, source_bytes: int) -> str | None:
    """Why the episode of ``read_meta`` dict ``meta`` cannot be written to .kdb, or None: its frame count or
    widths overflow .kdb's u32/u16 index fields, fps or total_reward overflow its f32 fields, or it has more
    frames than its source file has bytes (zero-width columns: .kdb stores at least 5 bytes a frame)."""
    T = int(meta.get("num_frames") or 0)
    if T > _U32_MAX or int(meta.get("action_dim") or 0) > _U16_MAX or int(meta.get("state_dim") or 0) > _U16_MAX:
        return (f"T={T}, action_dim={meta.get('action_dim')}, state_dim={meta.get('state_dim')} exceed .kdb's "
                "u32/u16/u16 index fields")
    if T > source_bytes:
        return (f"{T} frames of zero-width columns in a {source_bytes}-byte file would take at least {5 * T} bytes "
                "in .kdb")
    for key in ("fps", "total_reward"):
        value = meta.get(key)
        if value is not None and not _fits_f32(value):
            return f"{key}={value!r} overflows .kdb's float32 field"
    return None


def _fits_f32(value) -> bool:
    try:
        L.F32.pack(float(value))
    except OverflowError:
        return False
    return True


def _encode_episode(n, ep, keep_episode_ids):
    meta = ep.get("meta") or {}
    actions = _floats(ep, "actions", n, required=True)
    T, A = actions.shape
    if T > _U32_MAX:  # before any array of T frames is allocated
        raise SchemaError(f"episode {n}: T={T} exceeds .kdb's u32 frame count")
    states = _floats(ep, "states", n, default=np.zeros((T, 0), np.float32))
    S = states.shape[1]
    rewards = _floats(ep, "rewards", n, default=np.zeros(T, np.float32), ndim=1)
    terminal = np.asarray(ep["is_terminal"] if ep.get("is_terminal") is not None else np.zeros(T, bool))
    images = ep.get("images") or {}
    if T == 0:
        raise SchemaError(f"episode {n}: 0 frames (kinodb cannot store an empty episode)")
    for name, arr in (("states", states), ("rewards", rewards), ("is_terminal", terminal)):
        if len(arr) != T:
            raise SchemaError(f"episode {n}: {name} has {len(arr)} frames, actions has {T}")
    if terminal.ndim != 1 or terminal.dtype.kind not in "bui":
        raise SchemaError(f"episode {n}: is_terminal must be a 1-D bool array, got {terminal.dtype} {terminal.shape}")
    if T > _U32_MAX or A > _U16_MAX or S > _U16_MAX:
        raise SchemaError(f"episode {n}: T={T}, action_dim={A}, state_dim={S} exceed the u32/u16/u16 index fields")
    for key, value in (("num_frames", T), ("action_dim", A), ("state_dim", S)):
        if meta.get(key) is not None and int(meta[key]) != value:
            raise SchemaError(f"episode {n}: meta {key}={meta[key]} but the arrays have {value}")
    if meta.get("cameras") is not None and sorted(meta["cameras"]) != sorted(images):
        raise SchemaError(
            f"episode {n}: meta lists cameras {list(meta['cameras'])} but images has {list(images)} "
            "(read_episode_actions_only output carries no images; use read_episode)"
        )

    lowdim = np.empty(T, L.lowdim_frame_dtype(S, A))
    lowdim["state"], lowdim["action"], lowdim["reward"] = states, actions, rewards
    lowdim["is_terminal"] = terminal != 0

    entry = {
        "episode_id": _episode_id(n, meta) if keep_episode_ids else n,
        "num_frames": T,
        "action_dim": A,
        "state_dim": S,
    }
    return _encode_meta(n, meta), lowdim, _encode_images(n, T, images), entry


def _episode_id(n, meta) -> int:
    if meta.get("episode_id") is None or int(meta["episode_id"]) < 0:
        raise SchemaError(
            f"episode {n}: keep_episode_ids needs meta['episode_id'] >= 0, got {meta.get('episode_id')!r}"
        )
    return int(meta["episode_id"])


def _floats(ep, key, n, *, required=False, default=None, ndim=2):
    value = ep.get(key)
    if value is None:
        if required:
            raise SchemaError(f"episode {n}: missing {key!r}")
        return default
    arr = np.asarray(value)
    if arr.ndim != ndim or arr.dtype.kind not in "fiub":
        raise SchemaError(f"episode {n}: {key} must be a {ndim}-D numeric array, got {arr.dtype} {arr.shape}")
    return arr.astype("<f4", copy=False)


def _string(n, what, s) -> bytes:
    raw = str(s).encode("utf-8")
    if len(raw) > L.MAX_STRING_BYTES:
        raise SchemaError(
            f"episode {n}: {what} is {len(raw)} UTF-8 bytes; .kdb stores at most {L.MAX_STRING_BYTES} "
            "(a u16 length; kinodb would wrap it and corrupt the file)"
        )
    return L.U16.pack(len(raw)) + raw


def _encode_meta(n, meta) -> bytes:
    code = success_code.encode(meta.get("success"), f"episode {n}: success")
    reward = meta.get("total_reward")
    for key in ("fps", "total_reward"):
        if meta.get(key) is not None and not _fits_f32(meta[key]):
            raise SchemaError(f"episode {n}: {key}={meta[key]!r} overflows .kdb's float32 field")
    parts = [
        _string(n, "embodiment", meta.get("embodiment") or ""),
        _string(n, "task", meta.get("task") or ""),
        L.F32.pack(float(meta.get("fps") or 0.0)),
        bytes([code, 0 if reward is None else 1]),
    ]
    if reward is not None:
        parts.append(L.F32.pack(float(reward)))
    return b"".join(parts)


def _encode_images(n, T, images):
    """Check the cameras now; return an iterator over the image section's chunks, frame by frame."""
    heads, pixels = [], []
    for name, arr in images.items():
        arr = np.asarray(arr)
        if arr.dtype != np.uint8 or arr.ndim != 4 or len(arr) != T:
            raise SchemaError(
                f"episode {n}: images[{name!r}] must be uint8 (T={T}, H, W, C), got {arr.dtype} {arr.shape}"
            )
        _, H, W, C = arr.shape
        if not 0 < C <= 255 or H * W * C > _U32_MAX:
            raise SchemaError(f"episode {n}: images[{name!r}] shape {arr.shape} does not fit .kdb's u32/u8 fields")
        name_field = _string(n, f"camera name {name!r}", name)
        heads.append(name_field + L.IMAGE_RECORD_HEAD.pack(W, H, C, L.FORMAT_RAW, H * W * C))
        pixels.append(np.ascontiguousarray(arr))
    if len(heads) > _U16_MAX:
        raise SchemaError(f"episode {n}: {len(heads)} cameras; .kdb stores at most 65535")
    count = L.U16.pack(len(heads))
    if not heads:
        return iter([count * T])
    return _image_chunks(T, count, heads, pixels)


def _image_chunks(T, count, heads, pixels):
    for t in range(T):
        yield count
        for head, arr in zip(heads, pixels):
            yield head
            yield arr[t].data
