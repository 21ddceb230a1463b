"""A LeRobot episode's video cameras: the mp4 each lives in, its packets (:mod:`.lerobot_video`), and the report
lines for what is missing or re-encoded.

v2.x: ``info.video_path`` with ``episode_chunk``, ``video_key``, ``episode_index``; v3.0: with ``video_key``,
``chunk_index``, ``file_index`` from the episode's ``videos/<key>/chunk_index`` / ``file_index`` in meta/episodes,
and its ``videos/<key>/from_timestamp`` / ``to_timestamp`` in that file. An episode whose mp4 is missing is written
without that camera, and the report's ``skipped`` says so for that episode and camera (one line each); a note
totals them per camera.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import SourceLayoutError
from . import lerobot_video as V


def video_keys(features: dict) -> list[str]:
    return [k for k, f in features.items() if f.get("dtype") == "video"]


def video_path(root: Path, info: dict, version: str, row: dict, key: str) -> Path:
    template = info.get("video_path")
    if not template:
        raise SourceLayoutError(root / "meta" / "info.json", "a video_path template (video features)", "none")
    ep = int(row["episode_index"])
    if version.startswith("v2"):
        chunk = ep // int(info.get("chunks_size") or 1000)
        return root / template.format(episode_chunk=chunk, video_key=key, episode_index=ep)
    try:
        chunk, file = int(row[f"videos/{key}/chunk_index"]), int(row[f"videos/{key}/file_index"])
    except (KeyError, TypeError):
        raise SourceLayoutError(root / "meta" / "episodes", f"videos/{key}/chunk_index and file_index of "
                                f"episode {ep}", "none") from None
    return root / template.format(video_key=key, chunk_index=chunk, file_index=file)


class VideoCameras:
    """The video cameras of one ingest: call it per episode; ``missing`` counts the episodes without each."""

    def __init__(self, root: Path, info: dict, version: str, features: dict, rename: dict, report, transcode):
        self.root, self.info, self.version, self.report = root, info, version, report
        self.keys, self.rename, self.transcode = video_keys(features), rename, transcode
        self.missing = {k: 0 for k in self.keys}
        self._file = (None, None)  # (path, Packets): v3.0 files hold many episodes
        self.fps = float(info.get("fps") or 0.0)

    def __call__(self, row: dict, frames: int) -> dict:
        out = {}
        for key in self.keys:
            path = video_path(self.root, self.info, self.version, row, key)
            ep = int(row["episode_index"])
            if not path.is_file():
                self.missing[key] += 1
                self.report.skip(f"camera {key!r} of episode {ep}", f"its video {path.relative_to(self.root)} is "
                                 "missing; the episode is written without this camera", stacklevel=4)
                continue
            packets = self._packets(path, row, key, frames)
            name = self.rename.get(key, key)
            out[name] = packets.encoded() if self.transcode is None else V.decode(packets)
        return out

    def _packets(self, path: Path, row: dict, key: str, frames: int):
        ep = int(row["episode_index"])
        where = f"{path} (episode {ep})"
        if self.version.startswith("v2"):
            return V.whole_file(path, frames)
        if self._file[0] != path:
            self._file = (path, V.read_packets(path))
        try:
            a, b = float(row[f"videos/{key}/from_timestamp"]), float(row[f"videos/{key}/to_timestamp"])
        except (KeyError, TypeError):
            raise SourceLayoutError(self.root / "meta" / "episodes", f"videos/{key}/from_timestamp and "
                                    f"to_timestamp of episode {ep}", "none") from None
        packets, cut = V.cut(self._file[1], a, b, self.fps, where, frames)
        if cut.reencoded:
            self.report.note(f"camera {key!r} episode {ep}: {cut.describe()}")
        return packets

    def finish(self) -> None:
        for key, n in self.missing.items():
            if n:
                self.report.note(f"camera {key!r}: video missing for {n} episodes (each listed in skipped)")
        if self.keys:
            how = "video packets copied (no re-encode)" if self.transcode is None else \
                f"decoded and stored as {self.transcode}"
            self.report.note(f"video cameras {self.keys}: {how}")
