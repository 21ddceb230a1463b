"""Export a .knb (or .kdb) file: to kinodb's ``.kdb`` v0.1 (``export_kdb``) or to a new .knb (``export_knb``).

``.kdb`` holds less than ``.knb``; what does not fit is listed in ``ExportReport.skipped`` (and announced with an
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
import warnings
from dataclasses import dataclass, field
from pathlib import Path

FORMATS = ("kdb", "knb")


@dataclass
class ExportReport:
    source: str
    output: str
    format: str
    episodes: int = 0
    frames: int = 0
    skipped: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def export(src, out, *, format: str = "kdb", **options) -> ExportReport:  # noqa: A002
    """Export ``src`` to ``out`` in ``format`` ("kdb" or "knb")."""
    if format not in FORMATS:
        raise ValueError(f"export format must be one of {FORMATS}, got {format!r}")
    return (export_kdb if format == "kdb" else export_knb)(src, out, **options)


def export_kdb(src, out, *, created_timestamp: int | None = None, keep_episode_ids: bool = False,
               overwrite: bool = False, progress=None) -> ExportReport:
    """Write every episode of ``src`` to the kinodb ``.kdb`` v0.1 file ``out``."""
    from ..interop.ingest import IngestWarning, Sized
    from ..interop import write_kdb
    from ..interop.opener import open as open_db

    out = Path(os.fspath(out))
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=True (--overwrite) to replace it")
    db = open_db(src)
    report = ExportReport(str(src), str(out), "kdb")
    n = len(db)
    dropped_columns: dict = {}
    missing = {"rewards": 0, "is_terminal": 0}

    def skip(what, why):
        line = f"{what}: {why}"
        if line not in report.skipped:
            report.skipped.append(line)
            warnings.warn(f"{src}: {out.name}: skipped {line}", IngestWarning, stacklevel=4)

    def episodes():
        for i in range(n):
            ep = db.read_episode(i)
            meta = ep["meta"]
            for name in meta.get("columns", []):
                if name not in dropped_columns:
                    dropped_columns[name] = True
                    skip(f"column {name!r}", ".kdb has no extra columns")
            if meta.get("attrs"):
                skip("episode attrs", ".kdb has no attrs")
            if ep.get("rewards") is None:
                missing["rewards"] += 1
            if ep.get("is_terminal") is None:
                missing["is_terminal"] += 1
            report.episodes += 1
            report.frames += meta["num_frames"]
            yield {k: ep.get(k) for k in ("meta", "actions", "states", "rewards", "is_terminal", "images")}

    it = episodes()
    if progress is not None:
        it = progress(Sized(it, n))
    write_kdb(out, it, created_timestamp=created_timestamp, keep_episode_ids=keep_episode_ids)
    for key, count in missing.items():
        if count:
            fill = "0.0" if key == "rewards" else "False"
            report.notes.append(f"{count} episodes have no {key}: written as {fill} (.kdb stores one per frame)")
    report.notes.append("episode ids: " + ("the source's ids" if keep_episode_ids else "positions (kinodb's rule)"))
    return report


def export_knb(src, out, *, compression: str | None = None, filter: str | None = None,  # noqa: A002
               overwrite: bool = False, progress=None) -> ExportReport:
    """Rewrite ``src`` (.knb or .kdb) as a new .knb file, e.g. to change compression; episode ids are kept."""
    from .merge import merge

    m = merge([src], out, filter=filter, keep_ids=True, compression=compression, overwrite=overwrite,
              progress=progress)
    return ExportReport(str(src), str(out), "knb", episodes=m.episodes, frames=m.frames)
