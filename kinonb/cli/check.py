"""The commands that make and check files: ``create-test`` (a synthetic dataset) and ``validate``."""

from __future__ import annotations

import sys

import numpy as np

from ..errors import UsageError
from .options import _compression
from .output import EXIT_DATA, EXIT_OK, PROG, _info, _one_line, _print_json, _progress
from .testdata import create_test_episode


def cmd_create_test(args) -> int:
    from ..store.writer import create

    rng = np.random.default_rng(args.seed) if args.seed is not None else None
    with create(args.path, compression=_compression(args.compress), overwrite=args.overwrite) as w:
        for i in range(args.num_episodes):
            w.add_episode(**create_test_episode(i, args.frames, args.images, rng))
    _info(args, f"wrote {args.num_episodes} episodes ({args.num_episodes * args.frames} frames) to {args.path}")
    return EXIT_OK


def _validate_kdb(path, deep: bool, progress):
    """validate for a .kdb file: its reader checks every structure on open; deep decodes every episode."""
    from ..errors import FormatError
    from ..interop import KdbDatabase
    from ..store.validate import Report

    report = Report(str(path), deep=deep)
    try:
        db = KdbDatabase(path)
        report.episodes, report.frames = len(db), db.num_frames()
        if deep:
            for key in ("actions", "states", "rewards"):
                report.nan_count[key] = report.inf_count[key] = 0
            rows = range(len(db)) if progress is None else progress(range(len(db)))
            for i in rows:
                ep = db.read_episode(i)
                for key in ("actions", "states", "rewards"):
                    report.nan_count[key] += int(np.isnan(ep[key]).sum())
                    report.inf_count[key] += int(np.isinf(ep[key]).sum())
                report.blocks_checked += 2 + len(ep["images"])
        else:
            for i in range(len(db)):
                db.read_meta(i)
    except (FormatError, OSError, ValueError) as e:
        report.ok = False
        report.errors.append(str(e))
    return report


def _print_report(args, report, is_kdb: bool, repaired) -> None:
    """validate's text output: the verdict line, then repair, deep counts, warnings and errors."""
    verdict = "PASSED" if report.ok else "FAILED"
    extra = f" with {len(report.warnings)} warnings" if report.warnings else ""
    print(f"{verdict}{extra}: {args.path}: {report.episodes} episodes, {report.frames} frames"
          + ("" if is_kdb else f", {report.commits} commits"))
    if repaired:
        print(f"  repaired: removed {repaired} bytes after the last intact commit")
    if args.deep:
        print(f"  deep: {report.blocks_checked} blocks checked; NaN {sum(report.nan_count.values())}, "
              f"Inf {sum(report.inf_count.values())}")
        for col in report.nan_count:
            if report.nan_count[col] or report.inf_count[col]:
                print(f"    {col}: {report.nan_count[col]} NaN, {report.inf_count[col]} Inf")
    for w in report.warnings:
        print(f"  warning: {w}")
    for e in report.errors:
        print(f"  error: {e}")


def cmd_validate(args) -> int:
    from ..store.validate import repair, validate

    with open(args.path, "rb") as f:
        is_kdb = f.read(4) == b"KINO"
    progress = _progress(args, "validate") if args.deep else None
    repaired = None
    if is_kdb:
        if args.repair:
            raise UsageError("--repair applies to .knb files only (a .kdb file has no commits to cut back to)")
        report = _validate_kdb(args.path, args.deep, progress)
    else:
        report = validate(args.path, deep=args.deep, progress=progress)
        if args.repair and report.ignored_bytes:
            repaired = repair(args.path)
            report = validate(args.path, deep=args.deep, progress=progress)
        elif args.repair:
            repaired = 0
    result = report.as_dict()
    if repaired is not None:
        result["repaired_bytes"] = repaired
    if args.json:
        _print_json(result)
    else:
        _print_report(args, report, is_kdb, repaired)
    if not report.ok:
        print(f"{PROG} validate: {args.path} FAILED: {_one_line(ValueError(report.errors[0]))}", file=sys.stderr)
        return EXIT_DATA
    return EXIT_OK
