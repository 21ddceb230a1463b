"""One source, every format: the dataset the loaders compare, written once per storage layout.

A :class:`Source` holds a dataset in RAM while the files are built (never while anything is timed): per episode
``actions`` (T, A) float32, ``states`` (T, S) float32 and, optionally, camera frames (T, H, W, C) uint8.
:func:`build` writes it as

- ``knb``      kinonb, raw columns (``pusht.knb``);
- ``knb_lz4``  kinonb with lz4-compressed camera frames;
- ``hdf5``     robomimic layout: ``data/demo_<i>/actions``, ``data/demo_<i>/obs/state``,
               ``data/demo_<i>/obs/<camera>_image``; contiguous datasets without compression (robomimic's
               ``dataset_states_to_obs.py`` compresses only with ``--compress``);
- ``zarr``     diffusion_policy ReplayBuffer layout (zarr format 2, like diffusion_policy's zarr 2.x):
               ``data/action``, ``data/state``, ``data/img`` concatenated over episodes and ``meta/episode_ends``.
               Low-dim chunks of 161 rows with blosc zstd level 5 bit-shuffle, exactly as the official Push-T
               file; image chunks of one frame (as diffusion_policy's real-robot converters write them), same
               compressor;
- ``parquet``  LeRobot layout (v3-style files): ``data/chunk-000/file-<k>.parquet`` holding whole episodes
               (a new file past ~100 MB, LeRobot v3's default), columns ``observation.state`` and ``action``
               (fixed-size lists of float32), ``episode_index``, ``frame_index``, ``index``, ``timestamp`` and
               ``observation.image`` (raw HWC bytes: no PNG/video decode, so only storage is compared);
               snappy, row groups of 1,000 rows (100 with images: Hugging Face ``datasets``' defaults);
               ``meta/episodes.json`` maps each episode to its file and first row.

Sources: the real Push-T replay buffer (:func:`pusht_source`) and a synthetic low-dim set
(:func:`synthetic_source`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMATS = ("knb", "knb_lz4", "hdf5", "zarr", "parquet")
PUSHT_ZARR = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "diffusion_policy_pusht_cchi_v7_replay" \
    / "pusht_cchi_v7_replay.zarr"
CAMERA = "top"
ZARR_LOWDIM_CHUNK = 161  # rows per chunk of data/action and data/state in the official Push-T file
PARQUET_FILE_BYTES = 100 * 10**6  # LeRobot v3 default data file size
PARQUET_ROW_GROUP = 1000  # Hugging Face datasets' default writer batch
PARQUET_ROW_GROUP_IMAGES = 100  # ... and its default for image datasets


@dataclass
class Source:
    """A dataset held in RAM for writing: lists of per-episode arrays."""

    name: str
    actions: list
    states: list
    images: list | None = None  # per episode (T, H, W, C) uint8, camera CAMERA
    description: dict = field(default_factory=dict)
    fps: float = 10.0

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(a) for a in self.actions], np.int64)

    @property
    def action_dim(self) -> int:
        return int(self.actions[0].shape[1])

    @property
    def state_dim(self) -> int:
        return int(self.states[0].shape[1])

    @property
    def image_shape(self):
        return None if self.images is None else tuple(self.images[0].shape[1:])

    def describe(self) -> dict:
        lengths = self.lengths
        return {
            "name": self.name, "episodes": len(lengths), "frames": int(lengths.sum()),
            "frames_per_episode": [int(lengths.min()), int(lengths.max())], "action_dim": self.action_dim,
            "state_dim": self.state_dim, "image_shape": self.image_shape, **self.description,
        }  # fmt: skip


def pusht_source(path=PUSHT_ZARR, max_episodes=None) -> Source:
    """The official Push-T replay buffer: 206 episodes, 25,650 frames; float32 0..255 images -> uint8 exactly."""
    import zarr

    root = zarr.open_group(os.fspath(path), mode="r")
    ends = np.asarray(root["meta/episode_ends"][:], np.int64)
    if max_episodes is not None:
        ends = ends[:max_episodes]
    n = int(ends[-1])
    action = np.asarray(root["data/action"][:n], np.float32)
    state = np.asarray(root["data/state"][:n], np.float32)
    img = root["data/img"]
    frames = np.empty((n, *img.shape[1:]), np.uint8)
    step = 2048
    for s in range(0, n, step):
        block = np.asarray(img[s:min(n, s + step)])
        as_u8 = block.astype(np.uint8)
        if not np.array_equal(as_u8, block):  # Push-T stores integers 0..255 as float32
            raise ValueError(f"{path}: data/img rows {s}.. hold values that are not integers in 0..255")
        frames[s:s + len(block)] = as_u8
    starts = np.r_[0, ends[:-1]]
    return Source(
        "pusht",
        [action[a:b] for a, b in zip(starts, ends)],
        [state[a:b] for a, b in zip(starts, ends)],
        [frames[a:b] for a, b in zip(starts, ends)],
        {"origin": str(path), "kind": "real (diffusion_policy Push-T replay buffer)"},
    )


def synthetic_source(episodes=10_000, frames=200, action_dim=7, state_dim=32, seed=0) -> Source:
    """Low-dim episodes of ``frames`` frames: random-walk states, Gaussian actions (float32)."""
    rng = np.random.default_rng(seed)
    n = episodes * frames
    actions = rng.standard_normal((n, action_dim), np.float32)
    states = np.cumsum(rng.standard_normal((episodes, frames, state_dim), np.float32) * 0.1, axis=1)
    states = states.reshape(n, state_dim)
    return Source(
        "synthetic",
        [actions[i * frames:(i + 1) * frames] for i in range(episodes)],
        [states[i * frames:(i + 1) * frames] for i in range(episodes)],
        None,
        {"kind": f"synthetic (seed {seed})"},
    )


# -- writers --------------------------------------------------------------------------------------------------
def write_knb(src: Source, path: Path, compression=None) -> None:
    import kinonb

    with kinonb.create(path, compression=compression, overwrite=True, sync=False) as w:
        for i in range(len(src.actions)):
            images = {CAMERA: src.images[i]} if src.images is not None else None
            w.add_episode(src.actions[i], src.states[i], images=images, task=f"{src.name} task",
                          embodiment=src.name, fps=src.fps)


def write_hdf5(src: Source, path: Path) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        total = 0
        for i in range(len(src.actions)):
            g = data.create_group(f"demo_{i}")
            g.attrs["num_samples"] = len(src.actions[i])
            g.create_dataset("actions", data=src.actions[i])
            obs = g.create_group("obs")
            obs.create_dataset("state", data=src.states[i])
            if src.images is not None:
                obs.create_dataset(f"{CAMERA}_image", data=src.images[i])
            total += len(src.actions[i])
        data.attrs["total"] = total
        data.attrs["env_args"] = json.dumps({"env_name": src.name, "type": 0, "env_kwargs": {}})


def write_zarr(src: Source, path: Path) -> None:
    import numcodecs
    import zarr

    blosc = numcodecs.Blosc(cname="zstd", clevel=5, shuffle=numcodecs.Blosc.BITSHUFFLE)
    lengths = src.lengths
    n = int(lengths.sum())
    root = zarr.open_group(os.fspath(path), mode="w", zarr_format=2)
    data, meta = root.require_group("data"), root.require_group("meta")

    def array(group, name, value, chunks):
        arr = group.create_array(name, shape=value.shape, chunks=chunks, dtype=value.dtype, compressors=blosc)
        arr[...] = value

    array(data, "action", np.concatenate(src.actions), (ZARR_LOWDIM_CHUNK, src.action_dim))
    array(data, "state", np.concatenate(src.states), (ZARR_LOWDIM_CHUNK, src.state_dim))
    if src.images is not None:
        shape = src.image_shape
        img = data.create_array("img", shape=(n, *shape), chunks=(1, *shape), dtype=np.uint8, compressors=blosc)
        start = 0
        for frames in src.images:  # episode by episode: one chunk per frame
            img[start:start + len(frames)] = frames
            start += len(frames)
    array(meta, "episode_ends", np.cumsum(lengths), (len(lengths),))


def write_parquet(src: Source, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = path / "data" / "chunk-000"
    files.mkdir(parents=True)
    row_group = PARQUET_ROW_GROUP if src.images is None else PARQUET_ROW_GROUP_IMAGES
    frame_bytes = 4 * (src.action_dim + src.state_dim) + 28 + (int(np.prod(src.image_shape)) if src.images else 0)
    episodes = []
    pending, pending_rows, file_k, global_row = [], 0, 0, 0

    def flush():
        nonlocal pending, pending_rows, file_k
        if not pending:
            return
        cols = {
            "observation.state": _fixed_list(np.concatenate([src.states[i] for i in pending])),
            "action": _fixed_list(np.concatenate([src.actions[i] for i in pending])),
            "episode_index": pa.array(np.concatenate([np.full(len(src.actions[i]), i, np.int64) for i in pending])),
            "frame_index": pa.array(np.concatenate([np.arange(len(src.actions[i]), dtype=np.int64)
                                                    for i in pending])),
        }
        rows = sum(len(src.actions[i]) for i in pending)
        cols["index"] = pa.array(np.arange(global_row - rows, global_row, dtype=np.int64))
        cols["timestamp"] = pa.array((cols["frame_index"].to_numpy() / src.fps).astype(np.float32))
        if src.images is not None:
            frames = np.concatenate([src.images[i] for i in pending])
            per = int(np.prod(frames.shape[1:]))
            offsets = np.arange(0, (len(frames) + 1) * per, per, dtype=np.int64)
            cols["observation.image"] = pa.LargeBinaryArray.from_buffers(
                pa.large_binary(), len(frames), [None, pa.py_buffer(offsets), pa.py_buffer(frames.reshape(-1))])
        pq.write_table(pa.table(cols), files / f"file-{file_k:03d}.parquet", row_group_size=row_group,
                       compression="snappy")
        pending, pending_rows = [], 0
        file_k += 1

    for i, a in enumerate(src.actions):
        if pending and (pending_rows + len(a)) * frame_bytes > PARQUET_FILE_BYTES:
            flush()
        episodes.append({"episode_index": i, "file": f"data/chunk-000/file-{file_k:03d}.parquet",
                         "file_row": pending_rows, "length": len(a)})
        pending.append(i)
        pending_rows += len(a)
        global_row += len(a)
    flush()
    (path / "meta").mkdir()
    info = {"action_dim": src.action_dim, "state_dim": src.state_dim, "image_shape": src.image_shape,
            "fps": src.fps, "row_group_size": row_group}
    (path / "meta" / "info.json").write_text(json.dumps(info))
    (path / "meta" / "episodes.json").write_text(json.dumps(episodes))


def _fixed_list(values: np.ndarray):
    import pyarrow as pa

    values = np.ascontiguousarray(values, np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


WRITERS = {
    "knb": ("knb", lambda s, p: write_knb(s, p)),
    "knb_lz4": ("lz4.knb", lambda s, p: write_knb(s, p, "lz4")),
    "hdf5": ("hdf5", write_hdf5),
    "zarr": ("zarr", write_zarr),
    "parquet": ("parquet", write_parquet),
}


def build(src: Source, directory, formats=FORMATS, log=print) -> dict:
    """Write ``src`` in every format under ``directory``; per format its path, seconds and bytes on disk."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for fmt in formats:
        if fmt == "knb_lz4" and src.images is None:
            continue  # lz4 applies to camera frames only: the same file as knb
        suffix, writer = WRITERS[fmt]
        path = directory / f"{src.name}.{suffix}"
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        t0 = time.perf_counter()
        writer(src, path)
        seconds = time.perf_counter() - t0
        out[fmt] = {"path": str(path), "write_s": seconds, "bytes": disk_bytes(path), "files": len(files_of(path))}
        log(f"  wrote {fmt:<8} {out[fmt]['bytes'] / 1e6:9.1f} MB in {seconds:6.1f} s  ({out[fmt]['files']} files)")
    return out


def files_of(path) -> list[Path]:
    """Every regular file of a file or directory tree (what a cold run evicts)."""
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(p for p in path.rglob("*") if p.is_file())


def disk_bytes(path) -> int:
    return sum(p.stat().st_size for p in files_of(path))
