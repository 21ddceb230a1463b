"""Export a .knb file as a LeRobot v3.0 dataset directory (extra ``lerobot``: pyarrow; video cameras: PyAV).

    meta/info.json                              codebase_version v3.0, fps, robot_type, features, paths
    meta/tasks.parquet                          task_index, indexed by the task text (as pandas writes it)
    meta/episodes/chunk-000/file-000.parquet    per episode: length, tasks, data and video locations
    meta/stats.json                             min / max / mean / std / count of every numeric feature
    data/chunk-000/file-000.parquet             one row per frame
    videos/<camera>/chunk-000/file-000.mp4      a video camera's packets, copied (no re-encode)

Mapping: actions -> ``action``, states -> ``observation.state``, rewards -> ``next.reward``, is_terminal ->
``next.done``; extra columns keep their names (a per-frame array of several dimensions is flattened, noted);
``timestamp`` is the episode's own column when it has one, else frame / fps; ``frame_index``, ``episode_index``
(the position in the export), ``index`` and ``task_index`` are written fresh. A camera stored as video is copied
packet for packet into its mp4, episodes one after another; any other camera becomes an ``image`` feature (PNG
in the parquet, lossless). LeRobot needs every feature in every episode: an episode without a camera the others
have is left out, and the report's ``skipped`` says so per episode.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np

from ..codecs.scheduling import scheduling_kept
from ..errors import InvalidArgumentError
from ..interop.ingest import require
from ..interop.opener import open as open_db
from ..store.atomic import atomic_directory
from ..store.report import Report
from ..store.transfer import with_progress

ROLES = {"actions": "action", "states": "observation.state", "rewards": "next.reward", "is_terminal": "next.done"}
BOOKKEEPING = ("timestamp", "frame_index", "episode_index", "index", "task_index")
CHUNK = "chunk-000/file-000"
_TASKS_PANDAS = {"index_columns": ["__index_level_0__"], "column_indexes": [], "columns": [
    {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64", "metadata": None},
    {"name": None, "field_name": "__index_level_0__", "pandas_type": "unicode", "numpy_type": "object",
     "metadata": None}], "creator": {"library": "pyarrow"}, "pandas_version": "2.2.0"}


def export_lerobot(src, out, *, overwrite: bool = False, progress=None) -> Report:
    """Write every episode of ``src`` as the LeRobot v3.0 dataset directory ``out`` (module docstring)."""
    pq = require("pyarrow.parquet", "lerobot", "LeRobot export")
    out = Path(os.fspath(out))
    db = open_db(src)
    report = Report("export", source=str(src), output=str(out), format="lerobot")
    with atomic_directory(out, overwrite=overwrite, replaceable=lambda p: (p / "meta" / "info.json").is_file(),
                          kind="a LeRobot dataset") as tmp:
        (tmp / "meta").mkdir()
        writer = _Export(db, tmp, report)
        writer.cameras = sorted({c for i in range(len(db)) for c in db.read_meta(i)["cameras"]})
        for i in with_progress(range(len(db)), progress, len(db)):
            writer.episode(i)
        writer.finish(pq)
    return report


def _read(db, i: int):
    ep = db.read_episode(i)
    try:
        raw = db.read_episode(i, raw_frames=True)["images"]
    except TypeError:  # a reader without raw frames (before issue 14): every camera is decoded
        raw = {}
    return ep, {k: v for k, v in raw.items() if hasattr(v, "packets")}


class _Export:
    def __init__(self, db, root: Path, report: Report):
        self.db, self.root, self.report = db, root, report
        self.rows: dict[str, list] = {}
        self.episodes: list[dict] = []
        self.tasks: dict[str, int] = {}
        self.videos: dict[str, _VideoFile] = {}
        self.cameras = None
        self.fps = None
        self.frames = 0
        self.shapes: dict[str, tuple] = {}
        self.kinds: dict[str, str] = {}

    def episode(self, i: int) -> None:
        ep, videos = _read(self.db, i)
        meta = ep["meta"]
        cams = sorted(ep.get("images") or {})
        if cams != self.cameras:
            self.report.skip(f"episode {meta['episode_id']}", f"it has cameras {cams}, the file {self.cameras} "
                             "(LeRobot needs every feature in every episode)", stacklevel=4)
            return
        fps = float(meta["fps"] or 0.0)
        if self.fps is None:
            self.fps = fps or 30.0
            if not fps:
                self.report.note("fps unknown (0): written as 30")
        elif fps and fps != self.fps:
            self.report.note(f"episodes have several fps; info.json says the first's, {self.fps:g}")
        t = int(meta["num_frames"])
        n = len(self.episodes)
        row = {"episode_index": n, "tasks": [meta["task"]], "length": t, "data/chunk_index": 0,
               "data/file_index": 0, "dataset_from_index": self.frames, "dataset_to_index": self.frames + t,
               "meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0}
        task_index = self.tasks.setdefault(meta["task"], len(self.tasks))
        self._frames(ep, t, n, task_index)
        for cam in cams:
            if cam in videos:
                vf = self.videos.setdefault(cam, _VideoFile(self.root / "videos" / cam / f"{CHUNK}.mp4"))
                a, b = vf.add(videos[cam], t, self.fps)
                row.update({f"videos/{cam}/chunk_index": 0, f"videos/{cam}/file_index": 0,
                            f"videos/{cam}/from_timestamp": a, f"videos/{cam}/to_timestamp": b})
                self.kinds[cam] = "video"
                self.shapes[cam] = (videos[cam].height, videos[cam].width, 3)
            else:
                self._add(cam, [{"bytes": _png(f), "path": None} for f in ep["images"][cam]], "image",
                          ep["images"][cam].shape[1:])
        self.episodes.append(row)
        self.frames += t
        self.report.episodes += 1
        self.report.frames += t

    def _add(self, name: str, values, kind: str, shape) -> None:
        if self.kinds.setdefault(name, kind) != kind or self.shapes.setdefault(name, tuple(shape)) != tuple(shape):
            raise InvalidArgumentError(f"feature {name!r}: {kind} {tuple(shape)} in episode {len(self.episodes)}, "
                                       f"{self.kinds[name]} {self.shapes[name]} before (LeRobot fixes each shape)")
        self.rows.setdefault(name, []).extend(values)

    def _frames(self, ep: dict, t: int, n: int, task_index: int) -> None:
        for role, name in ROLES.items():
            if ep.get(role) is not None:
                arr = np.asarray(ep[role]).reshape(t, -1) if role in ("actions", "states") else np.asarray(ep[role])
                self._numeric(name, arr)
        for name in ep["meta"].get("columns", []):
            if name in BOOKKEEPING[1:]:
                continue
            arr = np.asarray(ep[name])
            if arr.ndim > 2:
                self.report.note(f"column {name!r}: {arr.shape[1:]} per frame flattened to {int(np.prod(arr.shape[1:]))}")
                arr = arr.reshape(t, -1)
            self._numeric(name, arr)
        if "timestamp" not in ep["meta"].get("columns", []):
            self._numeric("timestamp", (np.arange(t) / self.fps).astype(np.float32))
        start = self.frames
        for name, values in (("frame_index", np.arange(t)), ("episode_index", np.full(t, n)),
                             ("index", np.arange(start, start + t)), ("task_index", np.full(t, task_index))):
            self._numeric(name, values.astype(np.int64))

    def _numeric(self, name: str, arr: np.ndarray) -> None:
        shape = arr.shape[1:] or (1,)
        kind = "bool" if arr.dtype == np.bool_ else str(arr.dtype)
        self._add(name, list(arr), kind, shape)

    def finish(self, pq) -> None:
        import pyarrow as pa

        if not self.episodes:
            raise InvalidArgumentError(f"{self.report.source}: no episode to export")
        for vf in self.videos.values():
            vf.close()
        data = self.root / "data" / f"{CHUNK}.parquet"
        data.parent.mkdir(parents=True)
        pq.write_table(pa.table({k: _arrow(v, self.kinds[k], self.shapes[k]) for k, v in self.rows.items()}), data)
        (self.root / "meta" / "episodes" / "chunk-000").mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(self.episodes), self.root / "meta" / "episodes" / f"{CHUNK}.parquet")
        tasks = pa.table({"task_index": list(self.tasks.values()), "__index_level_0__": list(self.tasks)})
        tasks = tasks.replace_schema_metadata({"pandas": json.dumps(_TASKS_PANDAS)})
        pq.write_table(tasks, self.root / "meta" / "tasks.parquet")
        (self.root / "meta" / "stats.json").write_text(json.dumps(self._stats()))
        (self.root / "meta" / "info.json").write_text(json.dumps(self._info(), indent=2))
        if self.videos:
            self.report.note(f"video cameras {sorted(self.videos)}: packets copied into the mp4 (no re-encode)")
        images = [k for k, kind in self.kinds.items() if kind == "image"]
        if images:
            self.report.note(f"cameras {images}: PNG images in the parquet (lossless)")
        self.report.cameras = list(self.cameras or [])

    def _stats(self) -> dict:
        out = {}
        for name, values in self.rows.items():
            if self.kinds[name] in ("image", "video"):
                continue
            a = np.asarray(values, np.float64).reshape(len(values), -1)
            out[name] = {"min": a.min(0).tolist(), "max": a.max(0).tolist(), "mean": a.mean(0).tolist(),
                         "std": a.std(0).tolist(), "count": [len(a)]}
        return out

    def _info(self) -> dict:
        features = {}
        for name, kind in self.kinds.items():
            if kind == "video":
                h, w, c = self.shapes[name]
                vf = self.videos[name]
                features[name] = {"dtype": "video", "shape": [h, w, c], "names": ["height", "width", "channels"],
                                  "info": {"video.height": h, "video.width": w, "video.codec": vf.codec,
                                           "video.pix_fmt": vf.pix_fmt, "video.is_depth_map": False,
                                           "video.fps": self.fps, "video.channels": c, "has_audio": False}}
            elif kind == "image":
                features[name] = {"dtype": "image", "shape": list(self.shapes[name]),
                                  "names": ["height", "width", "channels"]}
            else:
                features[name] = {"dtype": kind, "shape": list(self.shapes[name]), "names": None}
        first = self.db.read_meta(0) if len(self.db) else {}
        return {"codebase_version": "v3.0", "robot_type": first.get("embodiment") or None,
                "total_episodes": len(self.episodes), "total_frames": self.frames, "total_tasks": len(self.tasks),
                "chunks_size": 1000, "data_files_size_in_mb": 100, "video_files_size_in_mb": 500,
                "fps": self.fps, "splits": {"train": f"0:{len(self.episodes)}"},
                "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
                "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
                if self.videos else None, "features": features}


def _arrow(values, kind: str, shape):
    import pyarrow as pa

    if kind == "image":
        return pa.array(values, pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
    flat = np.asarray(values)
    if tuple(shape) == (1,) and flat.ndim == 1:
        return pa.array(flat)
    flat = flat.reshape(len(values), -1)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), flat.shape[1])


def _png(frame: np.ndarray) -> bytes:
    from ..interop.image_codecs import _pillow

    buf = io.BytesIO()
    img = frame[..., 0] if frame.shape[-1] == 1 else frame
    _pillow().fromarray(np.ascontiguousarray(img)).save(buf, "PNG")
    return buf.getvalue()


class _VideoFile:
    """One camera's mp4: episodes' packets one after another, each shifted to start where the last one ended."""

    def __init__(self, path: Path):
        self.path, self.container, self.stream, self.next_pts = path, None, None, 0
        self.codec, self.pix_fmt = "", "yuv420p"

    def add(self, video, frames: int, fps: float) -> tuple[float, float]:
        from ..interop.ingest.lerobot_video import ENCODERS

        av = require("av", "video", "LeRobot export of video cameras")
        if self.container is None:
            self.path.parent.mkdir(parents=True)
            self.container = av.open(str(self.path), "w")
            names = [n for n in ENCODERS.get(video.codec, (video.codec,)) if n in av.codecs_available]
            if not names:
                raise InvalidArgumentError(f"no FFmpeg codec to mux {video.codec!r} into mp4")
            self.stream = s = self.container.add_stream(names[0], rate=round(fps) or 30)
            s.width, s.height, s.time_base = video.width, video.height, video.time_base
            s.codec_context.extradata = video.extradata or None
            self.codec, self.time_base = video.codec, video.time_base
        if video.time_base != self.time_base:
            raise InvalidArgumentError(f"video time bases differ between episodes ({video.time_base} and "
                                       f"{self.time_base}): not one mp4 stream")
        pts = np.asarray(video.pts, np.int64)
        shift = self.next_pts - int(pts[0])
        with scheduling_kept():  # the first mux opens the stream's FFmpeg encoder
            for data, p, key in zip(video.packets, pts, video.keyframe):
                pk = av.Packet(bytes(data))
                pk.pts = pk.dts = int(p) + shift
                pk.time_base, pk.stream, pk.is_keyframe = self.time_base, self.stream, bool(key)
                self.container.mux(pk)
        start = self.next_pts * float(self.time_base)
        step = int(np.median(np.diff(pts))) if len(pts) > 1 else max(1, round(1 / (fps * float(self.time_base))))
        self.next_pts = int(pts[-1]) + shift + step
        return start, start + frames / fps

    def close(self) -> None:
        if self.container is not None:
            with scheduling_kept():
                self.container.close()
