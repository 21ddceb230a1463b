"""Export a .knb (or .kdb) file: to kinodb's ``.kdb`` v0.1 (``export_kdb``) or to a new .knb (``export_knb``).

``.kdb`` holds less than ``.knb``; what does not fit is listed in the report's ``skipped`` (and announced with an
:class:`~kinonb.ingest.IngestWarning`), never dropped silently:

- extra columns and episode attrs (``.kdb`` has neither);
- absent rewards are written as 0.0 and absent is_terminal as False (``.kdb`` stores both for every frame;
  ``total_reward`` stays None, so "no reward" survives in the metadata, as kinodb does it);
- episode ids: ``.kdb`` files written by kinodb number episodes by position; ``keep_episode_ids`` stores the
  .knb ids instead.

Images are written raw (format 0), byte for byte as kinodb's writer does with no JPEG quality; with the same
``created_timestamp`` the file equals the one kinodb writes from the same episodes.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InvalidArgumentError
from ..interop.kdb_writer import write_kdb
from ..interop.opener import open as open_db
from ..store.atomic import refuse_existing
from ..store.report import Report
from ..store.transfer import with_progress
from .merge import merge

FORMATS = ("kdb", "knb", "lerobot")


def export(src, out, *, format: str = "kdb", **options) -> Report:  # noqa: A002
    """Export ``src`` to ``out`` in ``format`` ("kdb", "knb" or "lerobot": a LeRobot v3.0 directory,
    :mod:`.export_lerobot`)."""
    if format not in FORMATS:
        raise InvalidArgumentError(f"export format must be one of {FORMATS}, got {format!r}")
    if format == "lerobot":
        from .export_lerobot import export_lerobot

        return export_lerobot(src, out, **options)
    return (export_kdb if format == "kdb" else export_knb)(src, out, **options)


def export_kdb(src, out, *, created_timestamp: int | None = None, keep_episode_ids: bool = False,
               overwrite: bool = False, progress=None) -> Report:
    """Write every episode of ``src`` to the kinodb ``.kdb`` v0.1 file ``out``."""
    out = Path(os.fspath(out))
    refuse_existing(out, overwrite)
    db = open_db(src)
    report = Report("export", source=str(src), output=str(out), format="kdb")
    n = len(db)
    dropped_columns: dict = {}
    missing = {"rewards": 0, "is_terminal": 0}

    def episodes():
        for i in range(n):
            ep = db.read_episode(i)
            meta = ep["meta"]
            for name in meta.get("columns", []):
                if name not in dropped_columns:
                    dropped_columns[name] = True
                    report.skip(f"column {name!r}", ".kdb has no extra columns", stacklevel=4)
            if meta.get("attrs"):
                report.skip("episode attrs", ".kdb has no attrs", stacklevel=4)
            if ep.get("rewards") is None:
                missing["rewards"] += 1
            if ep.get("is_terminal") is None:
                missing["is_terminal"] += 1
            report.episodes += 1
            report.frames += meta["num_frames"]
            yield {k: ep.get(k) for k in ("meta", "actions", "states", "rewards", "is_terminal", "images")}

    write_kdb(out, with_progress(episodes(), progress, n), created_timestamp=created_timestamp,
              keep_episode_ids=keep_episode_ids, overwrite=overwrite)
    for key, count in missing.items():
        if count:
            fill = "0.0" if key == "rewards" else "False"
            report.notes.append(f"{count} episodes have no {key}: written as {fill} (.kdb stores one per frame)")
    report.notes.append("episode ids: " + ("the source's ids" if keep_episode_ids else "positions (kinodb's rule)"))
    return report


def export_knb(src, out, *, compression: str | None = None, filter: str | None = None,  # noqa: A002
               overwrite: bool = False, progress=None) -> Report:
    """Rewrite ``src`` (.knb or .kdb) as a new .knb file, e.g. to change compression; episode ids are kept."""
    m = merge([src], out, filter=filter, keep_ids=True, compression=compression, overwrite=overwrite,
              progress=progress)
    return Report("export", source=str(src), output=str(out), format="knb", episodes=m.episodes, frames=m.frames)
