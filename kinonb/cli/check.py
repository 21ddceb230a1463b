"""The commands that make, check and rescue files: ``create-test`` (a synthetic dataset), ``validate`` (with
``--repair``) and ``salvage``."""

from __future__ import annotations

import sys

import numpy as np

from ..errors import FormatError, OutputExistsError, UsageError
from .options import _compression
from .output import EXIT_DATA, EXIT_OK, PROG, _info, _one_line, _print_json, _progress
from .testdata import create_test_episode


def cmd_create_test(args) -> int:
    from ..store.writer import create

    rng = np.random.default_rng(args.seed) if args.seed is not None else None
    try:
        writer = create(args.path, compression=_compression(args.compress), overwrite=args.overwrite)
    except OutputExistsError:  # its message names the Python argument (overwrite=True)
        raise OutputExistsError(f"{args.path} exists; pass --overwrite to replace it") from None
    with writer as w:
        for i in range(args.num_episodes):
            w.add_episode(**create_test_episode(i, args.frames, args.images, rng))
    _info(args, f"wrote {args.num_episodes} episodes ({args.num_episodes * args.frames} frames) to {args.path}")
    return EXIT_OK


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


def _confirm_repair(args, report) -> bool:
    """Say (on stderr) what --repair will remove; ask on a terminal unless --force; refuse to lose recoverable
    episodes without --force or a yes."""
    k = report.recoverable_episodes or 0
    held = f", holding {k} episodes that `{PROG} salvage {args.path} -o OUT` can recover" if k else ""
    print(f"{PROG} validate --repair: will remove {report.ignored_bytes} bytes after the last intact commit of "
          f"{args.path}{held}", file=sys.stderr)
    if args.force:
        return True
    if sys.stdin.isatty() and sys.stderr.isatty():
        print("remove them? [y/N] ", end="", file=sys.stderr, flush=True)
        return sys.stdin.readline().strip().lower() in ("y", "yes")
    if k:
        print(f"{PROG} validate: refusing to remove {report.ignored_bytes} bytes holding {k} recoverable episodes; "
              f"run `{PROG} salvage {args.path} -o OUT` first, or pass --force", file=sys.stderr)
        return False
    return True


def cmd_salvage(args) -> int:
    from ..store.salvage import EXIT_LOST, salvage

    report = salvage(args.path, args.output, overwrite=args.overwrite, progress=_progress(args, "salvage"))
    if args.json:
        _print_json(report.as_dict())
    else:
        verdict = "recovered all" if report.ok else "LOST episodes"
        print(f"{verdict}: {args.path} -> {args.output}: {report.recovered} episodes, {report.frames} frames "
              f"recovered; {report.lost_episodes} lost")
        for line in report.lost:
            print(f"  lost: {line}")
        for line in report.notes:
            print(f"  note: {line}")
        for e in report.errors:
            print(f"  error: {e}")
    return EXIT_OK if report.ok else EXIT_LOST


def cmd_validate(args) -> int:
    from ..interop.dataset import is_dataset_location
    from ..interop.opener import file_format, validate_any
    from ..store.validate import repair

    try:
        is_kdb = file_format(args.path) == "kdb"
    except (FormatError, OSError):
        is_kdb = False  # validate reports what is wrong with it
    if is_kdb and args.repair:
        raise UsageError("--repair applies to .knb files only (a .kdb file has no commits to cut back to)")
    if args.repair and is_dataset_location(args.path):
        raise UsageError(f"--repair applies to one .knb file; repair the shards of {args.path} one by one")
    progress = _progress(args, "validate") if args.deep else None
    repaired = None
    report = validate_any(args.path, deep=args.deep, progress=progress)
    if args.repair and report.ignored_bytes:
        if not _confirm_repair(args, report):
            return EXIT_DATA
        repaired = repair(args.path, force=True)  # _confirm_repair said yes to any recoverable episodes
        report = validate_any(args.path, deep=args.deep, progress=progress)
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
