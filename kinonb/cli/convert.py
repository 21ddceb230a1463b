"""The commands that write a new file from others: ``ingest`` (foreign formats), ``export`` and ``merge``."""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from .options import _ingest_compression, _key_map
from .output import EXIT_DATA, EXIT_OK, _info, _print_json, _progress


def cmd_merge(args) -> int:
    from ..ops.merge import merge

    out = Path(args.output)
    for p in args.inputs:
        if Path(p).resolve() == out.resolve():
            raise UsageError(f"the output {out} is also an input; write the merge to a new file")
    report = merge(args.inputs, out, filter=args.filter, keep_ids=args.keep_ids,
                   compression=args.compress, overwrite=args.overwrite, progress=_progress(args, "merge"))
    if args.json:
        _print_json(report.as_dict())
        return EXIT_OK
    for item in report.inputs:
        _info(args, f"  {item['path']}: {item['selected']} of {item['episodes']} episodes")
    ids = "renumbered 0..N-1" if report.renumbered else "kept"
    _info(args, f"merged {report.episodes} episodes ({report.frames} frames) into {out}; episode ids {ids}")
    return EXIT_OK


def cmd_ingest(args) -> int:
    from ..interop.ingest import detect, ingest

    key_map = _key_map(args.map)  # a malformed --map is a usage error before the source is looked at
    fmt, tried = (args.format, None) if args.format else detect(args.src)
    options = _ingest_options(args, fmt, key_map)
    if args.shards is not None:
        from ..interop.ingest.shards import ingest_shards

        report = ingest_shards(args.src, args.output, shards=args.shards, workers=args.workers, format=fmt,
                               autocommit_episodes=args.commit_every, resume=not args.no_resume, **options)
    elif args.workers != 1 or args.commit_every is not None or args.no_resume:
        raise UsageError("--workers, --commit-every and --no-resume apply to a sharded ingest (--shards N)")
    else:
        report = ingest(args.src, args.output, format=fmt, **options)
    if tried is not None:
        report.note(f"format {fmt} detected (tried {', '.join(tried)})")
    if args.json:
        _print_json(report.as_dict())
        return EXIT_OK
    into = f"{args.output} ({args.shards} shards)" if args.shards is not None else args.output
    _info(args, f"ingested {report.episodes} episodes ({report.frames} frames) from {args.src} ({fmt}) into {into}")
    if not args.quiet:
        for note in report.notes:
            _info(args, f"  note: {note}")
        if report.skipped:
            _info(args, f"  skipped {len(report.skipped)} things (see the warnings; --json lists them)")
    return EXIT_OK


def _ingest_options(args, fmt: str, key_map: dict) -> dict:
    """The ingest options the flags ask for; a UsageError for a flag the format does not take."""
    options = dict(embodiment=args.embodiment, task=args.task, fps=args.fps, max_episodes=args.max_episodes,
                   compression=_ingest_compression(args.compress), key_map=key_map, overwrite=args.overwrite,
                   progress=_progress(args, f"ingest {fmt}"))
    if args.split is not None:
        if fmt == "hdf5":
            options["filter_key"] = args.split
        elif fmt in ("rlds", "hf_datasets"):
            options["split"] = args.split
        else:
            raise UsageError(f"--split applies to hdf5 (a mask/ filter key), rlds and hf_datasets (a split), "
                             f"not {fmt}")
    if args.index is not None or args.segment_by is not None:
        if fmt != "rrd":
            raise UsageError(f"--index and --segment-by apply to rrd, not {fmt}")
        options.update({k: v for k, v in (("index", args.index), ("segment_by", args.segment_by)) if v is not None})
    if args.transcode is not None:
        if fmt not in ("lerobot", "rlds", "rrd"):
            raise UsageError(f"--transcode applies to lerobot, rlds and rrd, not {fmt}")
        options["transcode"] = args.transcode
    if args.keep_large_attrs:
        if fmt != "hdf5":
            raise UsageError("--keep-large-attrs applies to hdf5 only")
        options["keep_large_attrs"] = True
    if fmt == "kdb" and options["key_map"]:
        raise UsageError("--map does not apply to .kdb sources (their keys are fixed)")
    return options


def cmd_export(args) -> int:
    from ..ops.export import export

    if args.format in ("lerobot", "rrd"):
        if args.filter or args.compress or args.timestamp is not None or args.keep_ids:
            raise UsageError(f"--filter, --compress, --timestamp and --keep-ids do not apply to --format "
                             f"{args.format}")
        options = {}
    elif args.format == "kdb":
        if args.filter or args.compress:
            raise UsageError("--filter and --compress apply to --format knb only")
        options = dict(created_timestamp=args.timestamp, keep_episode_ids=args.keep_ids)
    else:
        if args.timestamp is not None or args.keep_ids:
            raise UsageError("--timestamp and --keep-ids apply to --format kdb only")
        options = dict(compression=args.compress, filter=args.filter)
    if Path(args.output).resolve() == Path(args.path).resolve():
        raise UsageError("the output is the input file; export to a new file")
    report = export(args.path, args.output, format=args.format, overwrite=args.overwrite,
                    progress=_progress(args, f"export {args.format}"), **options)
    code = EXIT_DATA if report.skipped_episodes else EXIT_OK
    if args.json:
        _print_json(report.as_dict())
        return code
    _info(args, f"exported {report.episodes} episodes ({report.frames} frames) to {args.output} ({args.format})")
    for note in report.notes:
        _info(args, f"  note: {note}")
    if report.skipped_episodes:
        _info(args, f"  skipped {len(report.skipped_episodes)} episodes .kdb cannot hold (see the warnings)")
    return code
