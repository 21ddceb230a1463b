"""Rerun recordings (``.rrd`` files, read with rerun-sdk's dataframe API; extra ``rerun``).

    kinonb ingest DIR_OR_RRD -o x.knb --format rrd [--index frame_index] [--segment-by /episode]
        [--map actions=/action --map states=/state] [--fps HZ]

Each recording (a recording store in an ``.rrd`` file; for a folder, every ``*.rrd`` in it in name order) is one
episode, or, with ``segment_by`` (an entity logged with every frame, e.g. an episode counter), one episode per run
of equal values of it. A recording is read as the table ``ChunkStore.reader(index=INDEX)`` returns: one row per
value of the index timeline (``frame_index`` by default; a time timeline too), one column per entity component.

    actions        the entity ``key_map["actions"]`` names (default /action or /actions); its component found by
                   its archetype (``Scalars:scalars``) unless the key names one (``/action:Scalars:scalars``).
                   The episode's frames are the index values at which it was logged.
    states, rewards, is_terminal   likewise (defaults /state, /observation/state; /reward; /done, /is_terminal)
    cameras        ``EncodedImage`` (JPEG kept as its bytes unless ``transcode``; PNG decoded to uint8),
                   ``Image`` (u8 L / RGB / RGBA / BGR / BGRA; BGR reordered to RGB) and ``VideoStream`` (its samples
                   kept as a video camera, keyframes from ``is_keyframe`` or one decode) logged with every frame
    extra columns  any other numeric entity logged with every frame (name: its entity path without the leading
                   "/"; key_map renames), dtype as logged (``Scalars`` are float64)
    streams        numeric entities logged at other index values: ``(times, values)`` with times in int64 ns of a
                   time timeline, or index / fps seconds of a sequence timeline (so fps must be known)
    timestamps     a time timeline's values at the frames (int64 ns); a sequence timeline's as index / fps s
    attrs          ``attrs["rerun"]``: file, application and recording id, segment, and the recording properties
    task / embodiment / fps   from the recording properties ``task`` / ``embodiment`` (``robot_type``) / ``fps``

Values are the ones rerun-sdk's own query returns (float64 scalars stay float64). Everything else (AssetVideo
references, text, other archetypes, entities not logged at every frame on a sequence timeline without fps) is
listed in the report's ``skipped`` with the reason.
"""

from __future__ import annotations

import fractions
import json
import os
from pathlib import Path

import numpy as np

from . import (
    Report,
    SourceLayoutError,
    check_options,
    column_name,
    first_meta,
    renames,
    require,
    require_exists,
    selected,
    taken,
    total_reward,
    write_ingest,
)
from ..rrd_video import FOURCC, encoded_video
from .cameras import check_transcode
from .rrd_table import VIDEO_ARCHETYPES, encoded_images, logged_rows, numeric, raw_images, single_blobs

DEFAULT_KEYS = {"actions": ("/action", "/actions"), "states": ("/state", "/states", "/observation/state"),
                "rewards": ("/reward", "/rewards"), "is_terminal": ("/done", "/is_terminal", "/terminal")}
META_KEYS = {"task": ("task", "language_instruction"), "embodiment": ("embodiment", "robot_type", "robot"),
             "fps": ("fps",)}
META_FROM = {f: f"the recording properties ({', '.join(keys)})" for f, keys in META_KEYS.items()}
_TIME_UNITS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


def ingest_rrd(src, out, *, index: str = "frame_index", segment_by: str | None = None, embodiment=None, task=None,
               fps=None, max_episodes=None, compression=None, transcode=None, key_map=None, overwrite=False,
               progress=None, episodes=None) -> Report:
    """Convert Rerun recordings to .knb (see the module docstring for the mapping). ``episodes=`` still loads
    the recordings before the range (their segments are counted, not converted)."""
    rr = require("rerun", "rerun", "rrd ingest")
    require("datafusion", "rerun", "rrd ingest (rerun-sdk's dataframe queries)")
    key_map = check_options(fps=fps, max_episodes=max_episodes, compression=compression, key_map=key_map)
    compression = check_transcode(transcode, compression)
    files = rrd_files(src)
    report = Report("ingest", source=str(src), output=str(out), format="rrd")

    def segments():
        for path in files:
            reader = rr.chunk.RrdReader(path)
            for entry in reader.recordings():
                rec = Recording(reader, entry, path, index, report)
                for seg, rows in rec.segments(segment_by):
                    yield rec, seg, rows

    chosen = selected(None, max_episodes, episodes, counter=lambda: sum(1 for _ in segments()))

    def converted():
        for pos, (rec, seg, rows) in enumerate(taken(segments(), chosen, src), chosen.start):
            ep = rec.episode(rows, seg, key_map, fps, keep_jpeg=transcode is None)
            ep.setdefault("episode_id", pos)  # what the writer numbers them from 0, for a shard too
            yield ep

    return write_ingest(out, converted(), report, compression=compression, overwrite=overwrite, progress=progress,
                        embodiment=embodiment, task=task, fps=fps, meta_from=META_FROM)


def rrd_files(src) -> list[Path]:
    """The ``.rrd`` files of ``src``: the file itself, or a folder's ``*.rrd`` in name order."""
    require_exists(src)
    p = Path(os.fspath(src))
    files = sorted(p.glob("*.rrd")) if p.is_dir() else [p]
    if not files:
        raise SourceLayoutError(p, "a .rrd file or a folder of .rrd files", f"a folder holding "
                                f"{sorted(x.name for x in p.iterdir())[:12]}")
    return files


class Recording:
    """One recording store of an .rrd file, read as its index table and its properties."""

    def __init__(self, reader, entry, path: Path, index: str, report: Report):
        self.path, self.index, self.report = path, index, report
        self.label = f"{path.name} recording {entry.recording_id}"
        store = reader.stream(store=entry).collect()
        schema = store.schema()
        timelines = [ix.name for ix in schema.index_columns()]
        if index not in timelines:
            raise SourceLayoutError(path, f"a timeline {index!r} (--index)", f"timelines {timelines}")
        self.columns = {c.name: c for c in schema.component_columns() if not c.is_static}
        self.table = store.reader(index=index).to_arrow_table().sort_by(index)
        props = store.reader(index=None, contents="/__properties/**").to_arrow_table().to_pylist()
        self.properties = {_property_key(k): _plain(v) for k, v in (props[0] if props else {}).items()
                           if k.startswith("property:") and v is not None}
        self.ids = {"file": path.name, "application_id": entry.application_id, "recording_id": entry.recording_id}
        self.time_unit = _time_unit(self.table.schema.field(index).type)
        self.segment_column = None  # the --segment-by column: it cuts episodes, it is not stored
        self._combined: dict = {}

    def column(self, name: str):
        """Column ``name`` as one arrow array, combined once (every episode of the recording reads it)."""
        col = self._combined.get(name)
        if col is None:
            col = self._combined[name] = self.table[name].combine_chunks()
        return col

    # ---- which column is what --------------------------------------------------------------------------------
    def entities(self) -> dict:
        """{entity path: [column names]} of the table's data columns."""
        out: dict = {}
        for name, c in self.columns.items():
            if name in self.table.column_names:
                out.setdefault(c.entity_path, []).append(name)
        return out

    def numeric_column(self, key: str, role: str) -> str:
        """The column ``key`` names: ``entity:Archetype:component`` itself, or the entity's one numeric column."""
        if key in self.columns:
            return key
        names = [n for n in self.entities().get(key, []) if _is_numeric(self.table[n].type)]
        if len(names) != 1:
            raise SourceLayoutError(self.path, f"one numeric component of entity {key} for {role}",
                                    f"{names or 'none'} (entities {sorted(self.entities())})",
                                    f"name the column: --map {role}=ENTITY:Archetype:component")
        return names[0]

    def role_columns(self, key_map: dict) -> dict:
        roles = {}
        entities = self.entities()
        for role, defaults in DEFAULT_KEYS.items():
            key = key_map.get(role) or next((k for k in defaults if k in entities), None)
            if key is not None:
                roles[role] = self.numeric_column(key, role)
        return roles

    # ---- episodes --------------------------------------------------------------------------------------------
    def segments(self, segment_by: str | None):
        """(segment number or None, table rows) of each episode of the recording."""
        rows = np.arange(self.table.num_rows)
        if segment_by is None:
            yield None, rows
            return
        col = self.numeric_column(segment_by, "--segment-by")
        self.segment_column = col
        at = logged_rows(self.column(col))
        values, why = numeric(self.column(col), at)
        if why:
            raise SourceLayoutError(self.path, f"{segment_by} numbers (--segment-by)", why)
        flat = values.reshape(len(at), -1)
        cuts = np.flatnonzero((flat[1:] != flat[:-1]).any(axis=1)) + 1
        for k, seg in enumerate(np.split(at, cuts)):
            yield k, seg

    def episode(self, rows: np.ndarray, segment, key_map: dict, fps, keep_jpeg: bool) -> dict:
        """Writer.add_episode keyword arguments of the episode at table ``rows``."""
        where = f"{self.label}" + ("" if segment is None else f" segment {segment}")
        roles = self.role_columns(key_map)
        frames = self._frame_rows(rows, roles, where)
        fps_value, _ = first_meta("fps", [(fps, "the override")] + self._meta_candidates("fps"), self.report)
        ep = {"source": where}
        for field in ("task", "embodiment"):
            ep[field] = first_meta(field, self._meta_candidates(field), self.report)[0]
        ep["fps"] = fps_value
        ep.update(self._kinonb_fields())
        for role, col in roles.items():
            values, why = numeric(self.column(col), frames)
            if why:
                raise SourceLayoutError(self.path, f"{col} ({role}) at every frame", why, where)
            ep[role] = values.reshape(len(frames), -1) if role in ("actions", "states") else values.reshape(-1)
        if "is_terminal" in ep:
            ep["is_terminal"] = ep["is_terminal"] != 0
        if "rewards" in ep and "total_reward" not in ep:
            ep["total_reward"] = total_reward(ep["rewards"])
        ep["attrs"] = dict(ep.get("attrs") or {}, rerun=dict(self.ids, segment=segment, properties={
            k: v for k, v in self.properties.items() if not k.startswith("kinonb.")}))
        self._other_entities(ep, frames, roles, renames(key_map), fps_value, keep_jpeg, where)
        ep.update(self._time_fields(frames, fps_value, bool(ep.get("streams"))))
        values = self._index_values(frames)
        if "timestamps" not in ep and not np.array_equal(values, np.arange(len(frames))):
            columns = ep.setdefault("columns", {})  # a sequence without fps: keep its values
            columns[column_name(self.index, set(columns))] = values
        return ep

    def _kinonb_fields(self) -> dict:
        """success / total_reward / episode_id / attrs from the ``kinonb`` property kinonb's export writes."""
        out, props = {}, self.properties
        if isinstance(props.get("kinonb.success"), bool):
            out["success"] = props["kinonb.success"]
        if isinstance(props.get("kinonb.total_reward"), float):
            out["total_reward"] = props["kinonb.total_reward"]
        if isinstance(props.get("kinonb.attrs"), str):
            try:
                attrs = json.loads(props["kinonb.attrs"])
            except ValueError:
                attrs = None
            if isinstance(attrs, dict):
                out["attrs"] = attrs
        return out

    def _meta_candidates(self, field: str) -> list:
        return [(self.properties.get(k), f"the recording property {k!r}") for k in META_KEYS[field]]

    def _frame_rows(self, rows: np.ndarray, roles: dict, where: str) -> np.ndarray:
        for role in ("actions", "states"):
            if role in roles:
                logged = np.isin(rows, logged_rows(self.column(roles[role])))
                if logged.any():
                    return rows[logged]
        if not len(rows):
            raise SourceLayoutError(self.path, "rows on the index timeline", "none", where)
        return rows

    def _index_values(self, rows: np.ndarray) -> np.ndarray:
        return self.table[self.index].take(rows).cast("int64").to_numpy()

    def _times(self, rows: np.ndarray, fps: float):
        """The index values at ``rows`` as stream / frame times (int64 ns, or float64 s = index / fps), or None."""
        values = self._index_values(rows)
        if self.time_unit is not None:
            return values * self.time_unit
        return values / fps if fps else None

    def _time_fields(self, frames: np.ndarray, fps: float, streams: bool) -> dict:
        """``timestamps`` of the frames: a time timeline's; a sequence timeline's (index / fps) when streams are
        looked up against them or the index is not 0..T-1."""
        times = self._times(frames, fps)
        if times is None:
            return {}
        if self.time_unit is not None or streams or not np.array_equal(self._index_values(frames),
                                                                         np.arange(len(frames))):
            return {"timestamps": times}
        return {}

    def _other_entities(self, ep, frames, roles, rename, fps, keep_jpeg, where) -> None:
        used = set(roles.values()) | {self.segment_column}
        images, columns, streams = {}, {}, {}
        taken: set = set()
        for entity, names in self.entities().items():
            names = [n for n in names if n not in used]
            if not names:
                continue
            name = rename.get(entity) or column_name(_name_of(entity), taken)
            taken.add(name)
            archetypes = {self.columns[n].archetype for n in names}
            if entity == "/episode" and archetypes == {"rerun.archetypes.TextDocument"}:
                continue  # kinonb's own episode summary (export / view): its fields come back from the properties
            if "rerun.archetypes.VideoStream" in archetypes:
                video, why = self._video(entity, names, frames, fps, keep_jpeg)
                if why:
                    self.report.skip(entity, why)
                else:
                    images[name] = video
            elif archetypes & set(VIDEO_ARCHETYPES):
                self.report.skip(entity, "AssetVideo / VideoFrameReference (a video file the recording points "
                                 "into) is not ingested; log the frames as VideoStream samples")
            elif any(n.endswith(("EncodedImage:blob", "Image:buffer")) for n in names):
                frames_or_none, why = self._camera(names, frames, keep_jpeg, where)
                if why:
                    self.report.skip(entity, why)
                else:
                    images[name] = frames_or_none
            else:
                self._numeric_entity(entity, names, name, frames, fps, columns, streams)
        if images:
            ep["images"] = images
        if columns:
            ep["columns"] = columns
        if streams:
            ep["streams"] = streams

    def _camera(self, names, frames, keep_jpeg, where):
        by_component = {self.columns[n].component: n for n in names}
        if "EncodedImage:blob" in by_component:
            blobs, why = single_blobs(self.column(by_component["EncodedImage:blob"]), frames)
            if why:
                return None, why
            media = by_component.get("EncodedImage:media_type")
            media_types = self.table[media].take(frames).to_pylist() if media else None
            return encoded_images(blobs, media_types, keep_jpeg, f"{self.path}: {where}")
        if "Image:format" not in by_component:
            return None, "an Image without its format component"
        buffers, why = single_blobs(self.column(by_component["Image:buffer"]), frames)
        if why:
            return None, why
        return raw_images(buffers, self.table[by_component["Image:format"]].take(frames).to_pylist())

    def _video(self, entity, names, frames, fps, keep_encoded: bool):
        """A VideoStream camera: EncodedVideo of its samples (their bytes kept), or decoded frames when not
        ``keep_encoded`` (transcode); ``(value, None)`` or ``(None, why)``."""
        by_component = {self.columns[n].component: n for n in names}
        codec_col = f"{entity}:VideoStream:codec"
        codes = [c for c in self.table[codec_col].to_pylist() if c] if codec_col in self.table.column_names else []
        codec = FOURCC.get(codes[0][0] if codes and isinstance(codes[0], list) else None)
        if codec is None or "VideoStream:sample" not in by_component:
            return None, f"a VideoStream without a known codec ({codes[:1] or 'none'}) or without samples"
        samples, why = single_blobs(self.column(by_component["VideoStream:sample"]), frames)
        if why:
            return None, why
        keys = None
        if "VideoStream:is_keyframe" in by_component:
            cells = self.table[by_component["VideoStream:is_keyframe"]].take(frames).to_pylist()
            keys = [bool(c[0]) if c else False for c in cells]
        pts = self._index_values(frames)
        if self.time_unit is not None:
            pts, time_base = pts * self.time_unit, fractions.Fraction(1, 10**9)
        else:
            time_base = 1 / fractions.Fraction(fps or 30).limit_denominator(1 << 20)
        return encoded_video(codec, samples, keys, pts - pts[0], time_base, decode=not keep_encoded)

    def _numeric_entity(self, entity, names, name, frames, fps, columns, streams) -> None:
        numbers = [n for n in names if _is_numeric(self.table[n].type)]
        for n in names:
            if n not in numbers:
                self.report.skip(n, f"{self.columns[n].archetype or 'a component'} of arrow type "
                                 f"{self.table[n].type} is not numeric")
        for n in numbers:
            key = name if len(numbers) == 1 else f"{name}.{self.columns[n].component.split(':')[-1]}"
            col = self.column(n)
            logged = logged_rows(col)
            if np.array_equal(np.intersect1d(logged, frames), frames) and len(frames):
                values, why = numeric(col, frames)
                if why:
                    self.report.skip(n, why)
                else:
                    columns[key] = values
                continue
            at = logged[(logged >= frames[0]) & (logged <= frames[-1])] if len(frames) else logged
            times = self._times(at, fps)
            if times is None:
                self.report.skip(n, "logged at other index values than the actions, on a sequence timeline: pass "
                                 "--fps HZ to keep it as a stream (times = index / fps), or --index a time timeline")
                continue
            values, why = numeric(col, at)
            if why:
                self.report.skip(n, why)
            else:
                streams[key] = (times, values)


def _name_of(entity: str) -> str:
    """The stored name of an entity: its path without the leading "/", and without the /cameras/ or /streams/
    that kinonb's own Rerun output puts before camera and stream names."""
    name = entity.lstrip("/") or "root"
    for prefix in ("cameras/", "streams/"):
        if name.startswith(prefix) and len(name) > len(prefix):
            return name[len(prefix):]
    return name


def _is_numeric(typ) -> bool:
    import pyarrow as pa

    while pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
        typ = typ.value_type
    return pa.types.is_integer(typ) or pa.types.is_floating(typ) or pa.types.is_boolean(typ)


def _time_unit(typ):
    """Nanoseconds per index unit of a time timeline's arrow type; None for a sequence timeline."""
    import pyarrow as pa

    if pa.types.is_timestamp(typ) or pa.types.is_duration(typ):
        return _TIME_UNITS[typ.unit]
    return None


def _property_key(column: str) -> str:
    """``property:task:text`` -> ``task``; ``property:RecordingInfo:start_time`` -> ``RecordingInfo.start_time``."""
    parts = column.split(":")[1:]
    return parts[0] if len(parts) == 2 and parts[1] in ("text", "value", "scalars") else ".".join(parts)


def _plain(value):
    """A property cell as JSON-able plain values: a one-instance list is its instance."""
    if isinstance(value, (list, tuple)):
        value = [_plain(v) for v in value]
        return value[0] if len(value) == 1 else value
    if isinstance(value, bytes):
        return value.hex()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value
