"""One loader per access pattern; every loader returns the same samples, bit for bit, for the same ids.

A sample is frame ``t`` of an episode (every frame is a sample, in episode-then-frame order, as
``db.sample_index(..., pad="edge")`` numbers them) with

- ``states``  frames ``t-1, t``        (B, 2, S) float32   (2-step observation history)
- ``actions`` frames ``t .. t+15``     (B, 16, A) float32  (the action chunk)
- ``images``  frames ``t-1, t``        (B, 2, H, W, C) uint8, raw (when the loader is built with images)

and windows that leave the episode repeat its edge frame (LeRobot, robomimic and diffusion_policy agree on
that). Every loader reads through its own library on each call; none keeps data between calls except the
in-RAM ceilings, whose point is to keep everything. Per-sample loaders turn each sample into a dict and
stack them, as a DataLoader's default collate does.

Loaders open their files lazily in the process that reads (so they also work in DataLoader workers) and
``close()`` drops every handle (so a cold run can evict the files and reopen).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .sources import CAMERA, files_of

STATE_OFFSETS = np.array([-1, 0], np.int64)
ACTION_OFFSETS = np.arange(16, dtype=np.int64)
IMAGE_OFFSETS = np.array([-1, 0], np.int64)
KNB_WINDOWS = {"states": STATE_OFFSETS, "actions": ACTION_OFFSETS}


def sample_table(lengths) -> tuple[np.ndarray, np.ndarray]:
    """(episode, frame) of every sample: all frames, episode by episode."""
    lengths = np.asarray(lengths, np.int64)
    ep = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    return ep, np.arange(int(lengths.sum()), dtype=np.int64) - starts[ep]


def collate(samples: list[dict]) -> dict:
    return {k: np.stack([s[k] for s in samples]) for k in samples[0]}


def _edge(t: int, offsets: np.ndarray, length: int) -> np.ndarray:
    return np.clip(t + offsets, 0, length - 1)


class Loader:
    """Base: ``read(ids) -> dict`` of numpy arrays; ``files`` lists what a cold run evicts."""

    name = "?"
    pattern = ""

    def __init__(self, path, lengths, images: bool):
        self.path = Path(path)
        self.lengths = np.asarray(lengths, np.int64)
        self.images = bool(images)
        self.ep, self.t = sample_table(self.lengths)
        self._pid = None

    @property
    def files(self) -> list[Path]:
        return files_of(self.path)

    def ensure_open(self):
        if self._pid != os.getpid():
            self._open()
            self._pid = os.getpid()

    def _open(self):
        """Open files and handles in this process; loaders that need none keep this default."""

    def close(self):
        self._pid = None

    def read(self, ids) -> dict:
        self.ensure_open()
        ids = np.asarray(ids, np.int64)
        return self._read(ids)

    def __len__(self):
        return len(self.t)


# -- kinonb ---------------------------------------------------------------------------------------------------
class KinonbWindows(Loader):
    """kinonb window mode: one ``SampleIndex.read`` per batch (one compiled call per key, from the memmap)."""

    name = "kinonb"
    pattern = "db.sample_index(windows).read(ids): one Numba call per key per batch"

    def _open(self):
        import kinonb

        self.db = kinonb.open(self.path)
        windows = dict(KNB_WINDOWS)
        if self.images:
            windows[CAMERA] = IMAGE_OFFSETS
        self.index = self.db.sample_index(windows, pad="edge")

    def close(self):
        self.db = self.index = None
        super().close()

    def _read(self, ids):
        b = self.index.read(ids)
        out = {"states": b["states"], "actions": b["actions"]}
        if self.images:
            out["images"] = b[CAMERA]
        return out


class KinonbRandomAdvice(KinonbWindows):
    """The kinonb loader opened with ``kinonb.open(path, access="random")`` (madvise MADV_RANDOM), which stops
    the kernel from reading around every page fault (``read_ahead_kb`` bytes): the cold-cache option."""

    name = "kinonb +MADV_RANDOM"
    pattern = 'kinonb window mode, kinonb.open(path, access="random")'

    def _open(self):
        import mmap

        import kinonb

        self.advised = hasattr(mmap, "MADV_RANDOM")
        self.db = kinonb.open(self.path, access="random")
        windows = dict(KNB_WINDOWS)
        if self.images:
            windows[CAMERA] = IMAGE_OFFSETS
        self.index = self.db.sample_index(windows, pad="edge")


class KinonbTorch(Loader):
    """kinonb.torch ``KinoDataset(windows=...)``: the same reads behind the torch Dataset API (tensors)."""

    name = "kinonb.torch"
    pattern = "KinoDataset(windows=...).__getitems__(ids) -> tensors"

    def dataset(self):
        from kinonb.torch import KinoDataset

        windows = {"states": range(-1, 1), "actions": range(16)}
        if self.images:
            windows[CAMERA] = [-1, 0]
        return KinoDataset(os.fspath(self.path), windows=windows, actions_only=not self.images, layout="HWC",
                           normalize=False)

    def _open(self):
        self.ds = self.dataset()
        len(self.ds)  # the dataset opens lazily: open it here, outside any timed read

    def close(self):
        self.ds = None
        super().close()

    def _read(self, ids):
        b = self.ds.__getitems__(ids.tolist()).batch
        out = {"states": b["states"].numpy(), "actions": b["actions"].numpy()}
        if self.images:
            out["images"] = b[CAMERA].numpy()
        return out


class KinodbApi(Loader):
    """kinodb's pattern on kinonb's reader: one whole episode per sample, the window cut in Python."""

    name = "kinodb-API"
    pattern = "read_episode(e) per sample (actions_only without images), window cut in Python"

    def _open(self):
        import kinonb

        self.db = kinonb.open(self.path)

    def close(self):
        self.db = None
        super().close()

    def _read(self, ids):
        samples = []
        for i in ids:
            e, t = int(self.ep[i]), int(self.t[i])
            ep = self.db.read_episode(e) if self.images else self.db.read_episode_actions_only(e)
            n = len(ep["actions"])
            s = {"states": ep["states"][_edge(t, STATE_OFFSETS, n)],
                 "actions": ep["actions"][_edge(t, ACTION_OFFSETS, n)]}
            if self.images:
                s["images"] = ep["images"][CAMERA][_edge(t, IMAGE_OFFSETS, n)]
            samples.append(s)
        return collate(samples)


# -- robomimic HDF5 -------------------------------------------------------------------------------------------
class H5Robomimic(Loader):
    """robomimic ``SequenceDataset`` with ``hdf5_cache_mode=None``: per sample and key, slice the dataset
    ``data/demo_<i>/<key>`` by path and edge-pad (``TensorUtils.pad_sequence(..., pad_same=True)``).

    robomimic reads ``seq_length + frame_stack - 1`` frames of every observation key; here each key reads only
    the frames it returns (fewer bytes, favourable to HDF5)."""

    name = "h5py (robomimic)"
    pattern = "h5py: f['data/demo_i/key'][a:b] per key per sample, no cache"

    def _open(self):
        import h5py

        self.f = h5py.File(self.path, "r")

    def close(self):
        if getattr(self, "f", None) is not None:
            self.f.close()
        self.f = None
        super().close()

    def _seq(self, key, t, offsets, n):
        lo, hi = t + int(offsets[0]), t + int(offsets[-1]) + 1
        a, b = max(lo, 0), min(hi, n)
        data = self.f[key][a:b]
        if lo < a or hi > b:  # pad_same: repeat the edge frames
            data = np.concatenate([np.repeat(data[:1], a - lo, 0), data, np.repeat(data[-1:], hi - b, 0)])
        return data

    def _read(self, ids):
        samples = []
        for i in ids:
            e, t = int(self.ep[i]), int(self.t[i])
            n = int(self.lengths[e])
            demo = f"data/demo_{e}"
            s = {"states": self._seq(f"{demo}/obs/state", t, STATE_OFFSETS, n),
                 "actions": self._seq(f"{demo}/actions", t, ACTION_OFFSETS, n)}
            if self.images:
                s["images"] = self._seq(f"{demo}/obs/{CAMERA}_image", t, IMAGE_OFFSETS, n)
            samples.append(s)
        return collate(samples)


# -- diffusion_policy zarr -------------------------------------------------------------------------------------
def create_indices(episode_ends, sequence_length, pad_before, pad_after) -> np.ndarray:
    """diffusion_policy's ``create_indices`` (numba there): rows (buffer_start, buffer_end, sample_start,
    sample_end) per sample, episode by episode."""
    rows = []
    start = 0
    for end in np.asarray(episode_ends, np.int64).tolist():
        length = end - start
        idx = np.arange(-pad_before, length - sequence_length + pad_after + 1, dtype=np.int64)
        buffer_start = np.maximum(idx, 0) + start
        buffer_end = np.minimum(idx + sequence_length, length) + start
        sample_start = buffer_start - (idx + start)
        sample_end = sequence_length - ((idx + sequence_length + start) - buffer_end)
        rows.append(np.stack([buffer_start, buffer_end, sample_start, sample_end], 1))
        start = end
    return np.concatenate(rows) if rows else np.zeros((0, 4), np.int64)


class ZarrDiffusionPolicy(Loader):
    """diffusion_policy ``SequenceSampler`` over a ReplayBuffer opened on disk (not copied into RAM).

    ``horizon`` 17 (t-1 .. t+15), ``pad_before`` 1, ``pad_after`` 15: exactly one sample per frame, in the same
    order as kinonb's. Observation keys use ``key_first_k`` (2 frames read); the action chunk is frames 1..16
    of the horizon. ``sample_sequence`` is transcribed from diffusion_policy/common/sampler.py."""

    name = "zarr (diffusion_policy)"
    pattern = "zarr: SequenceSampler.sample_sequence(i), array[a:b] per key per sample"
    HORIZON, PAD_BEFORE, PAD_AFTER = 17, 1, 15

    def _open(self):
        import zarr

        root = zarr.open_group(os.fspath(self.path), mode="r")
        self.arrays = {"state": root["data/state"], "action": root["data/action"]}
        if self.images:
            self.arrays["img"] = root["data/img"]
        self.first_k = {"state": 2, "img": 2}
        ends = np.asarray(root["meta/episode_ends"][:], np.int64)
        self.indices = create_indices(ends, self.HORIZON, self.PAD_BEFORE, self.PAD_AFTER)

    def close(self):
        self.arrays = None
        super().close()

    def sample_sequence(self, idx):
        buffer_start, buffer_end, sample_start, sample_end = self.indices[idx].tolist()
        result = {}
        for key, arr in self.arrays.items():
            if key not in self.first_k:
                sample = arr[buffer_start:buffer_end]
            else:
                n_data = buffer_end - buffer_start
                k_data = min(self.first_k[key], n_data)
                fill = np.nan if np.dtype(arr.dtype).kind == "f" else 0
                sample = np.full((n_data,) + arr.shape[1:], fill_value=fill, dtype=arr.dtype)
                sample[:k_data] = arr[buffer_start:buffer_start + k_data]
            data = sample
            if sample_start > 0 or sample_end < self.HORIZON:
                data = np.zeros((self.HORIZON,) + arr.shape[1:], dtype=arr.dtype)
                if sample_start > 0:
                    data[:sample_start] = sample[0]
                if sample_end < self.HORIZON:
                    data[sample_end:] = sample[-1]
                data[sample_start:sample_end] = sample
            result[key] = data
        return result

    def _read(self, ids):
        samples = []
        for i in ids.tolist():
            seq = self.sample_sequence(i)
            s = {"states": seq["state"][:2], "actions": seq["action"][1:17]}
            if self.images:
                s["images"] = seq["img"][:2]
            samples.append(s)
        return collate(samples)


# -- LeRobot Parquet ------------------------------------------------------------------------------------------
class ParquetLeRobot(Loader):
    """Per-sample Parquet access, LeRobot layout: for each sample, read the row groups holding its window rows
    (``ParquetFile.read_row_groups``, only the needed columns), slice the rows, edge-pad."""

    name = "parquet (LeRobot)"
    pattern = "pyarrow: read_row_groups(window rows, columns) per sample"

    def _open(self):
        import pyarrow.parquet as pq

        episodes = json.loads((self.path / "meta" / "episodes.json").read_text())
        names = sorted({e["file"] for e in episodes})
        self.pf = [pq.ParquetFile(self.path / n) for n in names]
        file_id = {n: k for k, n in enumerate(names)}
        self.ep_file = np.array([file_id[e["file"]] for e in episodes], np.int64)
        self.ep_row = np.array([e["file_row"] for e in episodes], np.int64)
        self.rg_start = []
        for pf in self.pf:
            rows = [pf.metadata.row_group(k).num_rows for k in range(pf.metadata.num_row_groups)]
            self.rg_start.append(np.r_[0, np.cumsum(rows)].astype(np.int64))

    def close(self):
        self.pf = None
        super().close()

    def _rows(self, e, t, offsets, columns):
        n = int(self.lengths[e])
        rows = _edge(t, offsets, n)
        first = int(self.ep_row[e])
        lo, hi = first + int(rows.min()), first + int(rows.max()) + 1
        f = int(self.ep_file[e])
        starts = self.rg_start[f]
        g0 = int(np.searchsorted(starts, lo, "right")) - 1
        g1 = int(np.searchsorted(starts, hi - 1, "right")) - 1
        table = self.pf[f].read_row_groups(list(range(g0, g1 + 1)), columns=columns)
        take = rows + first - int(starts[g0])
        return {c: table.column(c) for c in columns}, take

    def _read(self, ids):
        samples = []
        for i in ids.tolist():
            e, t = int(self.ep[i]), int(self.t[i])
            lowdim_off = np.arange(-1, 16, dtype=np.int64)  # one read covers states and actions
            cols, take = self._rows(e, t, lowdim_off, ["observation.state", "action"])
            state = _list_column(cols["observation.state"])
            action = _list_column(cols["action"])
            s = {"states": state[take[:2]], "actions": action[take[1:]]}
            if self.images:
                cols, take = self._rows(e, t, IMAGE_OFFSETS, ["observation.image"])
                col = cols["observation.image"]
                s["images"] = np.stack([np.frombuffer(col[int(k)].as_buffer(), np.uint8) for k in take]) \
                    .reshape(len(take), *self.image_shape)
            samples.append(s)
        return collate(samples)

    @property
    def image_shape(self):
        info = json.loads((self.path / "meta" / "info.json").read_text())
        return tuple(info["image_shape"])


def _list_column(chunked) -> np.ndarray:
    arr = chunked.combine_chunks()
    return arr.flatten().to_numpy().reshape(len(arr), arr.type.list_size)


# -- in-RAM ceilings -------------------------------------------------------------------------------------------
class InRam(Loader):
    """The ceiling: every array preloaded into RAM (from the kinonb file, outside any timing); a batch is one
    vectorised gather with edge-clamped indices. Nothing is read from disk while timed."""

    name = "in-RAM numpy"
    pattern = "preloaded numpy arrays, fancy indexing"

    def __init__(self, path, lengths, images):
        super().__init__(path, lengths, images)
        self.ep_start = np.r_[0, np.cumsum(self.lengths)[:-1]].astype(np.int64)
        self.arrays = None

    @property
    def files(self):
        return []

    def _open(self):
        if self.arrays is not None:
            return
        import kinonb

        db = kinonb.open(self.path)
        eps = [db.read_episode(e) if self.images else db.read_episode_actions_only(e) for e in range(len(db))]
        self.arrays = {"states": np.concatenate([e["states"] for e in eps]),
                       "actions": np.concatenate([e["actions"] for e in eps])}
        if self.images:
            self.arrays["images"] = np.concatenate([e["images"][CAMERA] for e in eps])
        self._convert()

    def _convert(self):
        """Turn the preloaded numpy arrays into this ceiling's own type; numpy needs nothing."""

    def close(self):  # the ceiling keeps its arrays: being in RAM is the point
        super().close()

    def rows(self, ids, offsets):
        e, t = self.ep[ids], self.t[ids]
        last = (self.lengths[e] - 1)[:, None]
        return self.ep_start[e][:, None] + np.clip(t[:, None] + offsets[None, :], 0, last)

    def _read(self, ids):
        out = {"states": self.arrays["states"][self.rows(ids, STATE_OFFSETS)],
               "actions": self.arrays["actions"][self.rows(ids, ACTION_OFFSETS)]}
        if self.images:
            out["images"] = self.arrays["images"][self.rows(ids, IMAGE_OFFSETS)]
        return out


class InRamTorch(InRam):
    """The ceiling with torch tensors: ``tensor[rows]`` per key (what a preloading torch Dataset does)."""

    name = "in-RAM torch"
    pattern = "preloaded torch tensors, tensor indexing"

    def _convert(self):
        import torch

        self.arrays = {k: torch.from_numpy(v) for k, v in self.arrays.items()}

    def _read(self, ids):
        import torch

        keys = [("states", STATE_OFFSETS), ("actions", ACTION_OFFSETS)]
        if self.images:
            keys.append(("images", IMAGE_OFFSETS))
        out = {}
        for k, off in keys:
            rows = torch.from_numpy(self.rows(ids, off).reshape(-1))
            t = self.arrays[k]
            out[k] = torch.index_select(t, 0, rows).reshape(len(ids), len(off), *t.shape[1:]).numpy()
        return out


class InRamNumba(InRam):
    """The ceiling with kinonb's own compiled gather (``kinonb.kernels.gather_windows``) over arrays in RAM:
    the same kernel as the kinonb loader, minus the file. kinonb / this = the cost of reading from the file."""

    name = "in-RAM Numba"
    pattern = "preloaded numpy arrays, kinonb's Numba gather kernel"

    def _read(self, ids):
        from kinonb.kernels import gather_windows

        keys = [("states", STATE_OFFSETS), ("actions", ACTION_OFFSETS)]
        if self.images:
            keys.append(("images", IMAGE_OFFSETS))
        e, t = self.ep[ids], self.t[ids]
        out = {}
        for k, off in keys:
            arr = self.arrays[k]
            row = int(np.prod(arr.shape[1:]))
            res = np.empty((len(ids), len(off), *arr.shape[1:]), arr.dtype)
            pad = np.empty((len(ids), len(off)), np.bool_)
            gather_windows(arr.reshape(-1), self.ep_start * row, self.lengths, row, e, t, off,
                           res.reshape(len(ids), len(off), row), pad)
            out[k] = res
        return out


def torch_available() -> bool:
    try:
        import kinonb.torch  # noqa: F401
    except Exception:  # torch missing, or the torch layer not importable in this checkout
        return False
    return True


def loaders_for(paths: dict, lengths, images: bool, probes: bool = False) -> dict:
    """Every loader for one dataset: name -> Loader. ``paths`` maps format -> path (from sources.build).
    ``probes`` adds variants that are not kinonb's defaults (kinonb +MADV_RANDOM)."""
    knb = paths["knb"]["path"]
    out = {}
    if images:
        lz4 = paths["knb_lz4"]["path"]
        out["kinonb"] = KinonbWindows(knb, lengths, True)
        if probes:
            out["kinonb +MADV_RANDOM"] = KinonbRandomAdvice(knb, lengths, True)
        out["kinonb lz4"] = KinonbWindows(lz4, lengths, True)
        if torch_available():
            out["kinonb.torch"] = KinonbTorch(knb, lengths, True)
        out["kinodb-API"] = KinodbApi(knb, lengths, True)
        out["kinodb-API lz4"] = KinodbApi(lz4, lengths, True)
    else:
        out["kinonb"] = KinonbWindows(knb, lengths, False)
        if probes:
            out["kinonb +MADV_RANDOM"] = KinonbRandomAdvice(knb, lengths, False)
        if torch_available():
            out["kinonb.torch"] = KinonbTorch(knb, lengths, False)
        out["kinodb-API"] = KinodbApi(knb, lengths, False)
    out["h5py (robomimic)"] = H5Robomimic(paths["hdf5"]["path"], lengths, images)
    out["zarr (diffusion_policy)"] = ZarrDiffusionPolicy(paths["zarr"]["path"], lengths, images)
    out["parquet (LeRobot)"] = ParquetLeRobot(paths["parquet"]["path"], lengths, images)
    out["in-RAM Numba"] = InRamNumba(knb, lengths, images)
    out["in-RAM numpy"] = InRam(knb, lengths, images)
    out["in-RAM torch"] = InRamTorch(knb, lengths, images)
    for name, loader in out.items():
        loader.name = name
    return out


IN_RAM = ("in-RAM Numba", "in-RAM numpy", "in-RAM torch")
