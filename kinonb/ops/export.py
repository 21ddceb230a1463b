"""Export a .knb (or .kdb) file: to kinodb's ``.kdb`` v0.1 (``export_kdb``) or to a new .knb (``export_knb``).

``.kdb`` holds less than ``.knb``; what does not fit is listed in the report's ``skipped`` (and announced with an
:class:`~kinonb.ingest.IngestWarning`), never dropped silently:

- extra columns and episode attrs (``.kdb`` has neither);
- absent rewards are written as 0.0 and absent is_terminal as False (``.kdb`` stores both for every frame;
  ``total_reward`` stays None, so "no reward" survives in the metadata, as kinodb does it);
- timestamps, streams and episode arrays (``.kdb`` has none), and a final observation row of states (T+1 rows:
  ``.kdb`` stores one state per frame);
- episodes without actions are written with action_dim 0 (``.kdb`` needs an action array; KQL ``action_dim = 0``
  matches them in both files);
- float16 / float64 actions, states and rewards are written as float32 (all ``.kdb`` stores); a note counts the
  values the cast rounded (none, for float16);
- each episode keeps its own action_dim / state_dim (``.kdb`` stores both per episode);
- episode ids: ``.kdb`` files written by kinodb number episodes by position; ``keep_episode_ids`` stores the
  .knb ids instead;
- whole episodes .kdb cannot hold (fps or total_reward beyond float32, frame counts beyond its u32 field, more
  frames than the source has bytes): listed in ``skipped`` and ``skipped_episodes`` (their source positions);
  the rest are exported. ``kinonb export`` then exits with status 1.

Images are written raw (format 0), byte for byte as kinodb's writer does with no JPEG quality; with the same
``created_timestamp`` the file equals the one kinodb writes from the same episodes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InvalidArgumentError
from ..interop.kdb_writer import kdb_problem, write_kdb
from ..interop.opener import open as open_db
from ..store.atomic import refuse_existing
from ..store.report import Report
from ..store.transfer import with_progress
from .merge import merge

FORMATS = ("kdb", "knb", "lerobot", "rrd")


def export(src, out, *, format: str = "kdb", **options) -> Report:  # noqa: A002
    """Export ``src`` to ``out`` in ``format`` ("kdb", "knb", "lerobot": a LeRobot v3.0 directory,
    :mod:`.export_lerobot`, or "rrd": a folder of Rerun recordings, :mod:`.export_rrd`)."""
    if format not in FORMATS:
        raise InvalidArgumentError(f"export format must be one of {FORMATS}, got {format!r}")
    if format == "lerobot":
        from .export_lerobot import export_lerobot

        return export_lerobot(src, out, **options)
    if format == "rrd":
        from .export_rrd import export_rrd

        return export_rrd(src, out, **options)
    return (export_kdb if format == "kdb" else export_knb)(src, out, **options)


def export_kdb(src, out, *, created_timestamp: int | None = None, keep_episode_ids: bool = False,
               overwrite: bool = False, progress=None) -> Report:
    """Write every episode of ``src`` to the kinodb ``.kdb`` v0.1 file ``out``."""
    out = Path(os.fspath(out))
    refuse_existing(out, overwrite)
    db = open_db(src)
    report = Report("export", source=str(src), output=str(out), format="kdb")
    n = len(db)
    tally = _Tally()

    source_bytes = os.path.getsize(src) if os.path.isfile(src) else 1 << 62
    report.skipped_episodes = []

    def episodes():
        for i in range(n):
            problem = kdb_problem(db.read_meta(i), source_bytes)
            if problem:
                report.skipped_episodes.append(i)
                report.skip(f"episode {i}", problem, stacklevel=4)
                continue
            ep = _kdb_episode(db.read_episode(i), report, tally)
            report.episodes += 1
            report.frames += ep["meta"]["num_frames"]
            yield ep

    write_kdb(out, with_progress(episodes(), progress, n), created_timestamp=created_timestamp,
              keep_episode_ids=keep_episode_ids, overwrite=overwrite)
    report.notes.extend(tally.notes())
    report.notes.append("episode ids: " + ("the source's ids" if keep_episode_ids else "positions (kinodb's rule)"))
    return report


class _Tally:
    """What the export changed on the way into .kdb, counted over all episodes, for the report's notes."""

    def __init__(self):
        self.missing = dict.fromkeys(("actions", "rewards", "is_terminal"), 0)
        self.casts: dict = {}  # (key, source dtype) -> [episodes, values, values changed]

    def cast(self, key: str, arr):
        """``arr`` as the float32 .kdb stores, counting values a wider float rounds."""
        arr = np.asarray(arr)
        if arr.dtype == np.float32:
            return arr
        out = arr.astype(np.float32)
        with np.errstate(invalid="ignore"):
            changed = int(np.count_nonzero((out != arr) & ~(np.isnan(out) & np.isnan(arr))))
        counts = self.casts.setdefault((key, str(arr.dtype)), [0, 0, 0])
        for j, k in enumerate((1, arr.size, changed)):
            counts[j] += k
        return out

    def notes(self) -> list:
        fill = {"actions": "(T, 0), action_dim 0", "rewards": "0.0", "is_terminal": "False"}
        out = [f"{count} episodes have no {key}: written as {fill[key]} (.kdb stores one per frame)"
               for key, count in self.missing.items() if count]
        for (key, dtype), (eps, values, changed) in self.casts.items():
            how = f"{changed} of {values} values rounded" if changed else "exact, no value changed"
            out.append(f"{key}: {dtype} in {eps} episodes written as float32 (.kdb stores float32; {how})")
        return out


def _kdb_episode(ep: dict, report: Report, tally: _Tally) -> dict:
    """One read_episode dict as write_kdb takes it; what .kdb cannot hold is reported skipped or noted."""
    meta = ep["meta"]
    for name in meta.get("columns", []):
        report.skip(f"column {name!r}", ".kdb has no extra columns", stacklevel=5)
    if meta.get("attrs"):
        report.skip("episode attrs", ".kdb has no attrs", stacklevel=5)
    if ep.get("timestamps") is not None:
        report.skip("timestamps", ".kdb has no frame times (kinodb has fps only)", stacklevel=5)
    for kind, what in (("streams", "stream"), ("episode_arrays", "episode array")):
        for name in ep.get(kind) or {}:
            report.skip(f"{what} {name!r}", f".kdb has no {kind.replace('_', ' ')}", stacklevel=5)
    t = int(meta["num_frames"])
    out = {"meta": meta, "images": ep.get("images")}
    for key in ("actions", "states", "rewards", "is_terminal"):
        value = ep.get(key)
        if value is None:
            if key in tally.missing:
                tally.missing[key] += 1
            if key == "actions":
                out[key] = np.zeros((t, 0), np.float32)
            continue
        if key == "states" and len(value) == t + 1:
            report.skip("states' final observation (row T+1)", ".kdb stores one state per frame", stacklevel=5)
            value = value[:t]
        out[key] = value if key == "is_terminal" else tally.cast(key, value)
    return out


def export_knb(src, out, *, compression: str | None = None, filter: str | None = None,  # noqa: A002
               overwrite: bool = False, progress=None) -> Report:
    """Rewrite ``src`` (.knb or .kdb) as a new .knb file, e.g. to change compression; episode ids are kept."""
    m = merge([src], out, filter=filter, keep_ids=True, compression=compression, overwrite=overwrite,
              progress=progress)
    return Report("export", source=str(src), output=str(out), format="knb", episodes=m.episodes, frames=m.frames)
