"""Episodes to Rerun: ``kinonb view`` (chosen episodes, one recording, saved or shown in a spawned viewer) and
``kinonb export --format rrd`` (a folder with one ``.rrd`` per episode). What is logged:
:mod:`kinonb.interop.rrd_writer`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import InvalidArgumentError, PositionError
from ..interop.opener import open as open_db
from ..interop.rrd_writer import episode_for_rerun, log_episode, rerun
from ..store.atomic import atomic_directory
from ..store.report import Report
from ..store.transfer import with_progress

APPLICATION_ID = "kinonb"


def view(src, *, episodes=None, save=None, spawn: bool = False) -> list[int]:
    """Log ``episodes`` (positions; None: the first 10, at most) of ``src`` as one recording, on a ``frame``
    timeline that counts on across them: to the file ``save``, or to a viewer it spawns. Returns the positions."""
    if (save is None) == (not spawn):
        raise InvalidArgumentError("view needs exactly one of save=PATH and spawn=True")
    db = open_db(src)
    positions = list(range(min(len(db), 10))) if episodes is None else [int(p) for p in episodes]
    for p in positions:
        if not 0 <= p < len(db):
            raise PositionError(f"{src}: no episode at position {p} (file has {len(db)})")
    rr = rerun()
    rec = rr.RecordingStream(APPLICATION_ID, recording_id=f"view {Path(os.fspath(src)).name}")
    if save is not None:
        rec.save(os.fspath(save))
    else:
        rec.spawn()
    rec.send_property("kinonb", rr.AnyValues(source=str(src), episodes=[str(p) for p in positions]))
    first = 0
    for p in positions:
        ep = episode_for_rerun(db, p)
        log_episode(rec, ep, p, first_frame=first)
        first += int(ep["meta"]["num_frames"])
    rec.flush()
    rec.disconnect()
    return positions


def export_rrd(src, out, *, overwrite: bool = False, progress=None) -> Report:
    """Write every episode of ``src`` as ``out/episode_<position>.rrd`` (a recording each, its properties holding
    task, embodiment and fps) into the new folder ``out``; the folder appears by rename when complete."""
    out = Path(os.fspath(out))
    db = open_db(src)
    report = Report("export", source=str(src), output=str(out), format="rrd")
    rr = rerun()
    with atomic_directory(out, overwrite=overwrite, replaceable=_is_rrd_export, kind="a folder of episode_*.rrd "
                          "files") as tmp:
        for p in with_progress(range(len(db)), progress, len(db)):
            ep = episode_for_rerun(db, p)
            meta = ep["meta"]
            rec = rr.RecordingStream(APPLICATION_ID, recording_id=f"episode {meta['episode_id']}")
            rec.save(str(tmp / f"episode_{p:06d}.rrd"))
            for key in ("task", "embodiment"):
                if meta.get(key):
                    rec.send_property(key, rr.AnyValues(text=meta[key]))
            if meta.get("fps"):
                rec.send_property("fps", rr.AnyValues(value=float(meta["fps"])))
            rec.send_property("kinonb", rr.AnyValues(**_kinonb_property(meta)))
            log_episode(rec, ep, p)
            rec.flush()
            rec.disconnect()
            report.episodes += 1
            report.frames += int(meta["num_frames"])
    return report


def _is_rrd_export(folder: Path) -> bool:
    return all(p.name.startswith("episode_") and p.suffix == ".rrd" for p in folder.iterdir())


def _kinonb_property(meta: dict) -> dict:
    """What ``kinonb ingest --format rrd`` reads back beyond task / embodiment / fps."""
    out = {"episode_id": int(meta["episode_id"]), "attrs": json.dumps(meta.get("attrs") or {})}
    if meta.get("success") is not None:
        out["success"] = bool(meta["success"])
    if meta.get("total_reward") is not None:
        out["total_reward"] = float(meta["total_reward"])
    return out
