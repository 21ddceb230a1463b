"""``validate`` for kinodb ``.kdb`` files: the reader checks every structure when it opens the file; ``deep``
also decodes every episode (low-dim sections and every image) and counts NaN / Inf values."""

from __future__ import annotations

import numpy as np

from ..errors import FormatError
from ..store.report import Report
from ..store.transfer import with_progress
from .kdb_reader import KdbDatabase

LOWDIM = ("actions", "states", "rewards")


def validate_kdb(path, *, deep: bool = False, progress=None) -> Report:
    report = Report("validate", path=str(path), ok=True, deep=deep, commits=0, ignored_bytes=0, blocks_checked=0,
                    nan_count={}, inf_count={})
    try:
        db = KdbDatabase(path)
        report.episodes, report.frames = len(db), db.num_frames()
        if not deep:
            for i in range(len(db)):
                db.read_meta(i)
            return report
        for key in LOWDIM:
            report.nan_count[key] = report.inf_count[key] = 0
        for i in with_progress(range(len(db)), progress, len(db)):
            ep = db.read_episode(i)
            for key in LOWDIM:
                report.nan_count[key] += int(np.isnan(ep[key]).sum())
                report.inf_count[key] += int(np.isinf(ep[key]).sum())
            report.blocks_checked += 2 + len(ep["images"])
    except (FormatError, OSError, ValueError) as e:
        report.fail(e)
    return report
