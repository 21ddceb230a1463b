"""Episodes logged to Rerun (rerun-sdk, extra ``rerun``): what ``kinonb view`` shows and ``kinonb export --format
rrd`` writes.

Per episode, on the sequence timeline ``frame_index`` (0..T-1; ``view`` adds ``frame``, counting on across the
episodes it shows, and ``episode``, the position, so episode boundaries show on the timeline):

    /actions, /states, /rewards, /is_terminal, /<extra column>   ``Scalars`` (every value of a frame, flattened),
                            with ``SeriesLines`` names ``actions[0]``, ... for the per-dimension plots
    /cameras/<name>         JPEG frames as ``EncodedImage`` and video as ``VideoStream`` (the stored bytes, not
                            decoded: :mod:`.rrd_video`); others (and video Rerun cannot take as is) ``Image``
    /streams/<name>         ``Scalars`` on the ``time`` timeline at the stream's own times
    /episode                ``TextDocument``: task, embodiment, success, total_reward, fps, attrs (logged at frame 0)
    /episode/position       ``Scalars``: the episode's position in the file (``view`` only), at every frame

Frame times (the file's timestamps, or t / fps) go on a ``time`` timeline as durations. ``export`` writes one
``.rrd`` per episode whose recording properties hold task, embodiment and fps, so ``kinonb ingest --format rrd``
reads the folder back.
"""

from __future__ import annotations

import json

import numpy as np

from .rrd_video import CODEC_FOURCC, rerun_samples

ROLES = ("actions", "states", "rewards", "is_terminal")


def rerun():
    from .ingest import require

    return require("rerun", "rerun", "Rerun output")


def frame_times_ns(ep: dict) -> np.ndarray | None:
    """The frames' times in int64 ns: the stored timestamps, else t / fps; None without either."""
    if ep.get("timestamps") is not None:
        return _ns(ep["timestamps"])
    fps = float(ep["meta"].get("fps") or 0)
    t = int(ep["meta"]["num_frames"])
    return np.round(np.arange(t) * (1e9 / fps)).astype(np.int64) if fps > 0 else None


def episode_for_rerun(db, i: int) -> dict:
    """Episode ``i`` of ``db`` as log_episode takes it: extra columns under ``columns``, JPEG cameras as stored
    (EncodedJpeg), others decoded."""
    from ..codecs.encoded import EncodedJpeg, EncodedVideo

    ep = db.read_episode(i, raw_frames=True)
    extras = [c["name"] for c in db.schema() if c["role"] == "extra"]
    ep["columns"] = {name: ep.pop(name) for name in extras if ep.get(name) is not None}
    for name, frames in list((ep.get("images") or {}).items()):
        if isinstance(frames, EncodedVideo) and rerun_samples(frames) is not None:
            continue
        if not isinstance(frames, (EncodedJpeg, np.ndarray)):
            ep["images"][name] = db.frames(i, name)
    return ep


def log_episode(rec, ep: dict, position: int, *, first_frame: int | None = None) -> None:
    """Log one episode (from :func:`episode_for_rerun`) to the recording stream ``rec``; with ``first_frame``
    (``view``) also the ``frame`` and ``episode`` timelines and /episode/position."""
    rr = rerun()
    t = int(ep["meta"]["num_frames"])
    frames = np.arange(t)
    timelines = {"frame_index": ("sequence", frames)}
    times = frame_times_ns(ep)
    if times is not None:
        timelines["time"] = ("duration", times)
    if first_frame is not None:
        timelines["frame"] = ("sequence", first_frame + frames)
        timelines["episode"] = ("sequence", np.full(t, position))
        _scalars(rec, rr, "/episode/position", timelines, np.full((t, 1), float(position)), None)
    for key in ROLES:
        if ep.get(key) is not None:
            _scalars(rec, rr, f"/{key}", timelines, ep[key], key)
    for name, values in (ep.get("columns") or {}).items():
        _scalars(rec, rr, f"/{name}", timelines, values[:t], name)  # a T + 1'th row has no frame to go to
    for name, (stream_t, values) in (ep.get("streams") or {}).items():
        _scalars(rec, rr, f"/streams/{name}", {"time": ("duration", _ns(stream_t))}, values, name)
    _set_row(rec, timelines, 0)
    rec.log("/episode", rr.TextDocument(_meta_text(ep, position), media_type="text/markdown"))
    for name, frames_of in (ep.get("images") or {}).items():
        _log_camera(rec, rr, f"/cameras/{name}", timelines, frames_of)


def _ns(times) -> np.ndarray:
    times = np.asarray(times)
    return times.astype(np.int64) if times.dtype.kind in "iu" else np.round(times * 1e9).astype(np.int64)


def _index(rr, timelines: dict) -> list:
    return [rr.TimeColumn(name, sequence=v) if kind == "sequence" else
            rr.TimeColumn(name, duration=v.astype("timedelta64[ns]")) for name, (kind, v) in timelines.items()]


def _set_row(rec, timelines: dict, k: int) -> None:
    for name, (kind, values) in timelines.items():
        if kind == "sequence":
            rec.set_time(name, sequence=int(values[k]))
        else:
            rec.set_time(name, duration=np.timedelta64(int(values[k]), "ns"))


def _scalars(rec, rr, entity: str, timelines: dict, values, name: str | None) -> None:
    arr = np.asarray(values)
    flat = arr.reshape(len(arr), -1).astype(np.float64)
    if flat.shape[1] == 0:
        return
    if name is not None:
        names = [name] if flat.shape[1] == 1 else [f"{name}[{i}]" for i in range(flat.shape[1])]
        rec.log(entity, rr.SeriesLines(names=names), static=True)
    rec.send_columns(entity, indexes=_index(rr, timelines), columns=rr.Scalars.columns(scalars=flat))


def _meta_text(ep: dict, position: int) -> str:
    meta = ep["meta"]
    shown = {k: meta.get(k) for k in ("task", "embodiment", "success", "total_reward", "fps", "num_frames",
                                       "episode_id")}
    text = f"## Episode {position}\n\n" + "\n".join(f"- **{k}**: {v}" for k, v in shown.items())
    if meta.get("attrs"):
        text += "\n\n```json\n" + json.dumps(meta["attrs"], indent=1, default=str) + "\n```"
    return text


def _log_camera(rec, rr, entity: str, timelines: dict, frames) -> None:
    from ..codecs.encoded import EncodedJpeg, EncodedVideo

    if isinstance(frames, EncodedVideo):
        rec.log(entity, rr.VideoStream(codec=CODEC_FOURCC[frames.codec]), static=True)
        rec.send_columns(entity, indexes=_index(rr, timelines), columns=rr.VideoStream.columns(
            sample=rerun_samples(frames), is_keyframe=np.asarray(frames.keyframe, bool)))
        return
    if isinstance(frames, EncodedJpeg):
        blobs = [bytes(f) for f in frames.frames]
        rec.send_columns(entity, indexes=_index(rr, timelines), columns=rr.EncodedImage.columns(
            blob=blobs, media_type=["image/jpeg"] * len(blobs)))
        return
    frames = np.asarray(frames)
    for k in range(len(frames)):
        _set_row(rec, timelines, k)
        img = frames[k]
        rec.log(entity, rr.Image(img[..., 0] if img.shape[-1] == 1 else img))
