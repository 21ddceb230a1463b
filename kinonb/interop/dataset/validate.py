"""``kinonb validate DIR``: a dataset is valid when its manifest is, every shard is (:func:`kinonb.validate`),
and every shard holds what the manifest says at the commit it pins."""

from __future__ import annotations

from ...errors import FormatError, InvalidArgumentError
from ...store.report import Report
from ...store.validate import validate
from .manifest import manifest_file, read_local_manifest, shard_files
from .opening import open_dataset


def validate_dataset(location, *, deep: bool = False, progress=None) -> Report:
    """One report for the dataset at the local ``location``: the manifest's errors, then each shard's, each
    prefixed with the shard's path; ``episodes`` / ``frames`` are the dataset's."""
    report = Report("validate", path=str(location), ok=True, deep=deep, ignored_bytes=0)
    try:
        file = manifest_file(location)
        if file is not None:
            read_local_manifest(file)
        paths = shard_files(location)
    except (FormatError, InvalidArgumentError, OSError) as e:
        report.fail(e)
        return report
    report.commits, report.blocks_checked = 0, 0 if deep else None
    if deep:
        report.nan_count, report.inf_count = {}, {}
    for path in paths:
        shard = validate(path, deep=deep, progress=progress)
        _add_counts(report, shard)
        for error in shard.errors:
            report.fail(RuntimeError(error if error.startswith(path) else f"{path}: {error}"))
        report.warnings += [w if w.startswith(path) else f"{path}: {w}" for w in shard.warnings]
    if report.ok:
        try:
            db = open_dataset(location)  # the counts at the pinned commits
        except (FormatError, InvalidArgumentError, OSError) as e:
            report.fail(e)
            return report
        report.episodes, report.frames = db.num_episodes(), db.num_frames()
        report.note(f"{len(paths)} shards")
    return report


def _add_counts(report: Report, shard: Report) -> None:
    """The shard's commits, ignored bytes and (deep) checked blocks and NaN / Inf counts, added to the report's."""
    report.commits += shard.commits or 0
    report.ignored_bytes += shard.ignored_bytes or 0
    if report.blocks_checked is not None:
        report.blocks_checked += shard.blocks_checked or 0
    for total, counts in ((report.nan_count, shard.nan_count), (report.inf_count, shard.inf_count)):
        if total is not None:
            for col, k in (counts or {}).items():
                total[col] = total.get(col, 0) + k
