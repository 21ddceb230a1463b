"""The ``kinonb`` command line (also ``python -m kinonb``): kinodb's ``kino`` commands for .knb files.

Exit status: 0 on success, 1 on a data problem (a one-line message on stderr; ``--debug`` adds the traceback),
2 on a usage error (bad arguments, a KQL query that does not parse). Progress bars (tqdm, when installed) are
drawn on stderr for ingest, merge, export and ``validate --deep`` only when stderr is a terminal; ``--quiet``
turns them off together with the informational lines ("wrote ..."). Results that a command exists to print
(info, schema, query, validate, mix) are printed either way; ``--json`` prints them as JSON on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import traceback
import warnings
from pathlib import Path

import numpy as np

PROG = "kinonb"
EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2
MAX_WARNINGS = 12


class UsageError(Exception):
    """A command line that cannot be run as given (exit status 2)."""


# ---- output helpers ---------------------------------------------------------------------------------------


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None  # JSON has no NaN / Inf
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _print_json(obj) -> None:
    print(json.dumps(_jsonable(obj), indent=2, ensure_ascii=False))


def _info(args, text: str) -> None:
    """An informational line (suppressed by --quiet and by --json, whose stdout is the JSON document)."""
    if not args.quiet and not getattr(args, "json", False):
        print(text)


def _progress(args, desc: str, unit: str = "ep"):
    """A tqdm factory when stderr is a terminal and not --quiet, else None."""
    if args.quiet or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return lambda it: tqdm(it, desc=desc, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)


def _one_line(e: BaseException) -> str:
    from ..errors import QueryError

    if isinstance(e, QueryError):
        where = f" at position {e.position}" if e.position is not None else ""
        return f"bad KQL query {e.query!r}: {e.reason}{where}"
    text = " ".join(str(e).split()) or type(e).__name__
    if isinstance(e, (FileNotFoundError, IsADirectoryError, PermissionError)) and e.filename:
        text = f"{e.filename}: {e.strerror}"
    return text


def _open(path):
    from ..interop.opener import open as open_db

    return open_db(path)


def _is_kdb(db) -> bool:
    from ..interop import KdbDatabase

    return isinstance(db, KdbDatabase)


def _schema(db) -> list[dict]:
    """The column schema; a .kdb file's is derived from its first episode (kdb has a fixed layout)."""
    if not _is_kdb(db):
        return db.schema()
    if len(db) == 0:
        return []
    m = db.read_meta(0)
    cols = [{"name": "actions", "role": "actions", "dtype": "float32", "shape": [m["action_dim"]], "codec": "raw"},
            {"name": "states", "role": "states", "dtype": "float32", "shape": [m["state_dim"]], "codec": "raw"},
            {"name": "rewards", "role": "rewards", "dtype": "float32", "shape": [], "codec": "raw"},
            {"name": "is_terminal", "role": "is_terminal", "dtype": "bool", "shape": [], "codec": "raw"}]
    if m["cameras"]:
        images = db.read_episode(0)["images"]
        for name, arr in images.items():
            cols.append({"name": name, "role": "camera", "dtype": "uint8", "shape": list(arr.shape[1:]),
                         "codec": "kdb"})
    return cols


def _meta_row(p: int, m: dict) -> str:
    success = {None: "-", True: "yes", False: "no"}[m["success"]]
    reward = "-" if m["total_reward"] is None else f"{m['total_reward']:.4g}"
    return (f"{p:>6} {m['episode_id']:>8} {m['num_frames']:>7} {m['fps']:>6.4g} {success:>7} {reward:>9}  "
            f"{m['embodiment'][:16]:<16} {m['task']}")


META_HEADER = f"{'pos':>6} {'id':>8} {'frames':>7} {'fps':>6} {'success':>7} {'reward':>9}  {'embodiment':<16} task"


def _print_warnings(caught, args) -> None:
    seen = []
    for w in caught:
        text = str(w.message)
        if text not in seen:
            seen.append(text)
    for text in seen[:MAX_WARNINGS]:
        print(f"{PROG}: warning: {text}", file=sys.stderr)
    if len(seen) > MAX_WARNINGS:
        print(f"{PROG}: ... and {len(seen) - MAX_WARNINGS} more warnings (--json lists everything skipped)",
              file=sys.stderr)


# ---- commands ---------------------------------------------------------------------------------------------


TEST_EMBODIMENTS = ["widowx", "franka", "aloha", "ur5"]
TEST_TASKS = ["pick up the red block", "open the drawer", "place the cup on the plate", "push the green button",
              "stack the blue cube on the yellow cube", "close the laptop lid"]


def create_test_episode(i: int, frames: int, images: bool = False, rng: np.random.Generator | None = None) -> dict:
    """Episode ``i`` of ``kinonb create-test``: the same values as kinodb's ``kino create-test`` writes.

    state = [0.3 p, 0.1 p, 0.5 + 0.2 p, 0, 0, 0.1 p] with p = t / T in float32; constant action deltas with the
    gripper at 1.0 on the last two frames; reward 1.0 on the last frame of a successful episode (i % 3 != 0);
    images ``front`` and ``wrist`` 64x64 gradients R = x/64, G = y/64, B = t/T (times 255, truncated).
    With ``rng``, N(0, 0.01) noise is added to states and actions (the values then differ from kinodb's).
    """
    f32 = np.float32
    T = frames
    p = np.arange(T, dtype=f32) / f32(T)
    states = np.zeros((T, 6), f32)
    states[:, 0], states[:, 1], states[:, 2], states[:, 5] = p * f32(0.3), p * f32(0.1), f32(0.5) + p * f32(0.2), \
        p * f32(0.1)
    actions = np.tile(np.array([0.01, 0.005, 0.01, 0, 0, 0.005, 0], f32), (T, 1))
    actions[-2:, 6] = 1.0
    if rng is not None:
        states += rng.normal(0, 0.01, states.shape).astype(f32)
        actions += rng.normal(0, 0.01, actions.shape).astype(f32)
    success = i % 3 != 0
    rewards = np.zeros(T, f32)
    rewards[-1] = 1.0 if success else 0.0
    ep = dict(actions=actions, states=states, rewards=rewards, is_terminal=np.arange(T) == T - 1,
              embodiment=TEST_EMBODIMENTS[i % 4], task=TEST_TASKS[i % 6], fps=10.0, success=success,
              total_reward=1.0 if success else 0.0)
    if images:
        ramp = (np.arange(64, dtype=f32) / f32(64) * f32(255)).astype(np.uint8)
        img = np.empty((T, 64, 64, 3), np.uint8)
        img[..., 0] = ramp[None, None, :]
        img[..., 1] = ramp[None, :, None]
        img[..., 2] = (np.arange(T, dtype=f32) / f32(T) * f32(255)).astype(np.uint8)[:, None, None]
        ep["images"] = {"front": img, "wrist": img.copy()}
    return ep


def cmd_create_test(args) -> int:
    from ..store.writer import create

    rng = np.random.default_rng(args.seed) if args.seed is not None else None
    with create(args.path, compression=_compression(args.compress), overwrite=args.overwrite) as w:
        for i in range(args.num_episodes):
            w.add_episode(**create_test_episode(i, args.frames, args.images, rng))
    _info(args, f"wrote {args.num_episodes} episodes ({args.num_episodes * args.frames} frames) to {args.path}")
    return EXIT_OK


def cmd_info(args) -> int:
    from ..errors import TornTailWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TornTailWarning)  # info reports ignored_bytes itself
        db = _open(args.path)
    kdb = _is_kdb(db)
    out = {
        "path": str(args.path),
        "format": "kdb" if kdb else "knb",
        "version": db.version(),
        "num_episodes": db.num_episodes(),
        "num_frames": db.num_frames(),
        "file_size_bytes": os.path.getsize(args.path),
        "schema": _schema(db),
        "cameras": [c["name"] for c in _schema(db) if c["role"] == "camera"],
        "ignored_bytes": 0 if kdb else db.ignored_bytes,
    }
    if not kdb:
        out["commits"] = db.commit_seq
    if args.episodes:
        out["episodes"] = [db.read_meta(i) for i in range(len(db))]
    if args.json:
        _print_json(out)
        return EXIT_OK
    print(db.summary())
    if kdb:
        print(f"  (kinodb .kdb v{db.version()}; `kinonb ingest {args.path} -o OUT.knb` converts it)")
    if out["ignored_bytes"]:
        print(f"  {out['ignored_bytes']} bytes after the last intact commit (torn append): "
              f"`kinonb validate --repair {args.path}` removes them")
    if args.episodes:
        print(META_HEADER)
        for i, m in enumerate(out["episodes"]):
            print(_meta_row(i, m))
    return EXIT_OK


def cmd_schema(args) -> int:
    db = _open(args.path)
    cols = _schema(db)
    if args.json:
        _print_json(cols)
        return EXIT_OK
    print(f"{'name':<24} {'role':<11} {'dtype':<8} {'shape':<16} codec")
    for c in cols:
        print(f"{c['name']:<24} {c['role']:<11} {c['dtype']:<8} {str(tuple(c['shape'])):<16} {c['codec']}")
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
    if not report.ok:
        print(f"{PROG} validate: {args.path} FAILED: {_one_line(ValueError(report.errors[0]))}", file=sys.stderr)
        return EXIT_DATA
    return EXIT_OK


def cmd_query(args) -> int:
    db = _open(args.path)
    positions = db.query(args.kql)
    shown = positions if args.limit is None else positions[: args.limit]
    metas = [db.read_meta(p) for p in shown]
    if args.json:
        _print_json({"query": args.kql, "count": len(positions), "positions": shown, "episodes": metas})
        return EXIT_OK
    print(f"{len(positions)} of {len(db)} episodes match: {args.kql}")
    if metas:
        print(META_HEADER)
        for p, m in zip(shown, metas):
            print(_meta_row(p, m))
    if len(shown) < len(positions):
        print(f"... {len(positions) - len(shown)} more (--limit {args.limit})")
    return EXIT_OK


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


def cmd_mix(args) -> int:
    from ..ops.mixture import mixture, parse_source, sample_mixture

    try:
        sources = [parse_source(s) for s in args.source]
    except ValueError as e:
        raise UsageError(str(e)) from None
    if sum(w for _, w in sources) <= 0:
        raise UsageError("mixture weights sum to 0; give at least one --source a positive weight")
    plan = mixture(sources)
    result = {"sources": plan}
    if args.sample is not None:
        pairs, counts = sample_mixture(plan, args.sample, args.seed)
        result["sample"] = {
            "n": args.sample, "seed": args.seed,
            "counts": counts.tolist(),
            "distinct_episodes": [int(len(np.unique(pairs[pairs[:, 0] == k, 1]))) for k in range(len(plan))],
            "pairs": pairs.tolist() if args.sample <= 1000 else None,
        }
    if args.json:
        _print_json(result)
        return EXIT_OK
    width = max(len(s["path"]) for s in plan)
    print(f"{'source':<{width}} {'weight':>8} {'share':>7} {'episodes':>9} {'frames':>10}")
    for s in plan:
        print(f"{s['path']:<{width}} {s['weight']:>8.4g} {s['share']:>7.3f} {s['episodes']:>9} {s['frames']:>10}")
    if args.sample is not None:
        sample = result["sample"]
        print(f"sample of {args.sample} (source, episode) pairs, seed {args.seed}:")
        for s, c, d in zip(plan, sample["counts"], sample["distinct_episodes"]):
            share = c / args.sample if args.sample else 0.0
            print(f"{s['path']:<{width}} {c:>8} draws ({share:6.1%}), {d} distinct episodes")
    return EXIT_OK


def _key_map(items) -> dict:
    out = {}
    for item in items or []:
        name, sep, key = item.partition("=")
        if not sep or not name or not key:
            raise UsageError(f"--map {item!r}: expected NAME=SOURCE_KEY, e.g. --map actions=action or --map top=img")
        out[name] = key
    return out


def _compression(value):
    return None if value in (None, "none") else value


def cmd_ingest(args) -> int:
    from ..interop.ingest import detect_format, ingest

    key_map = _key_map(args.map)
    fmt = args.format or detect_format(args.src)
    options = dict(embodiment=args.embodiment, task=args.task, fps=args.fps, max_episodes=args.max_episodes,
                   compression=_compression(args.compress), key_map=key_map, overwrite=args.overwrite,
                   progress=_progress(args, f"ingest {fmt}"))
    if args.split is not None:
        if fmt == "hdf5":
            options["filter_key"] = args.split
        elif fmt == "rlds":
            options["split"] = args.split
        else:
            raise UsageError(f"--split applies to hdf5 (a mask/ filter key) and rlds (a split), not {fmt}")
    if args.keep_large_attrs:
        if fmt != "hdf5":
            raise UsageError("--keep-large-attrs applies to hdf5 only")
        options["keep_large_attrs"] = True
    if fmt == "kdb" and options["key_map"]:
        raise UsageError("--map does not apply to .kdb sources (their keys are fixed)")
    report = ingest(args.src, args.output, format=fmt, **options)
    if args.json:
        _print_json(report.as_dict())
        return EXIT_OK
    _info(args, f"ingested {report.episodes} episodes ({report.frames} frames) from {args.src} ({fmt}) into "
          f"{args.output}")
    if not args.quiet:
        for note in report.notes:
            _info(args, f"  note: {note}")
        if report.skipped:
            _info(args, f"  skipped {len(report.skipped)} things (see the warnings; --json lists them)")
    return EXIT_OK


def cmd_export(args) -> int:
    from ..ops.export import export

    if args.format == "kdb":
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
    if args.json:
        _print_json(report.as_dict())
        return EXIT_OK
    _info(args, f"exported {report.episodes} episodes ({report.frames} frames) to {args.output} ({args.format})")
    for note in report.notes:
        _info(args, f"  note: {note}")
    return EXIT_OK


#: The source checkout that holds ``bench/`` (beside the ``kinonb`` package).
BENCH_ROOT = Path(__file__).resolve().parent.parent


def run_bench(args) -> int:
    """Run the benchmark suite (``python -m bench.run``) when this checkout has it; otherwise say why not.

    The hook the benchmark issue fills in: ``bench/run.py`` under BENCH_ROOT, run from there with the
    arguments after ``kinonb bench`` (a leading ``--`` is dropped); its exit status is returned.
    """
    root = BENCH_ROOT
    if not (root / "bench" / "run.py").is_file():
        print(f"{PROG} bench: the benchmark suite (bench/run.py) is not available in this installation; "
              "run it from a kinonb source checkout", file=sys.stderr)
        return EXIT_DATA
    extra = list(args.bench_args or [])
    if extra[:1] == ["--"]:
        extra = extra[1:]
    return subprocess.call([sys.executable, "-m", "bench.run", *extra], cwd=root)


def cmd_bench(args) -> int:
    return run_bench(args)


# ---- the parser -------------------------------------------------------------------------------------------


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def build_parser() -> argparse.ArgumentParser:
    from .._version import __version__

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars and no informational lines")
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="print the traceback of an error")

    parser = argparse.ArgumentParser(
        prog=PROG, formatter_class=_Formatter,
        description="kinonb: episode-first storage for robot-learning data (kinodb's `kino` commands).",
        epilog="examples:\n  kinonb create-test demo.knb -n 20 --frames 50 --images\n  kinonb info demo.knb\n"
               "  kinonb query demo.knb \"success = true AND num_frames > 25\"\n\n"
               "exit status: 0 ok, 1 data problem, 2 usage error. `kinonb COMMAND --help` for each command.")
    parser.add_argument("--version", action="version", version=f"kinonb {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars and no informational lines")
    parser.add_argument("--debug", action="store_true", help="print the traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name, func, help_text, example):
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text,
                           epilog=f"example:\n  {example}", formatter_class=_Formatter)
        p.set_defaults(func=func)
        return p

    p = add("create-test", cmd_create_test, "write a synthetic dataset (kinodb's create-test episodes)",
            "kinonb create-test demo.knb -n 20 --frames 50 --images --compress lz4")
    p.add_argument("path", help="the .knb file to create")
    p.add_argument("-n", "--num-episodes", type=_nonneg_int, default=20, help="episodes (default 20)")
    p.add_argument("--frames", type=_pos_int, default=50, help="frames per episode (default 50)")
    p.add_argument("--images", action="store_true", help="add two 64x64 cameras, front and wrist")
    p.add_argument("--compress", choices=["none", "lz4"], default="none", help="camera compression")
    p.add_argument("--seed", type=int, default=None,
                   help="add seeded N(0, 0.01) noise to states and actions (default: kinodb's exact values)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing file")

    p = add("info", cmd_info, "summarise a .knb (or .kdb) file", "kinonb info data.knb --episodes")
    p.add_argument("path")
    p.add_argument("--episodes", action="store_true", help="list every episode's metadata")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = add("schema", cmd_schema, "list the columns of a file (name, role, dtype, per-frame shape, codec)",
            "kinonb schema data.knb --json")
    p.add_argument("path")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = add("validate", cmd_validate, "check a file: structures; with --deep also every checksum and value",
            "kinonb validate data.knb --deep --repair")
    p.add_argument("path")
    p.add_argument("--deep", action="store_true", help="verify every block's CRC-32, decode every block, count NaN/Inf")
    p.add_argument("--repair", action="store_true",
                   help="truncate a torn tail back to the last intact commit, then validate again")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = add("query", cmd_query, "list the episodes a KQL query selects (docs/kql.md)",
            "kinonb query data.knb \"success = true AND num_frames > 25\" --limit 10")
    p.add_argument("path")
    p.add_argument("kql", help="the query, e.g. \"embodiment = 'franka' AND success = true\"")
    p.add_argument("--limit", type=_nonneg_int, default=None, help="list at most N episodes (the count is total)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = add("merge", cmd_merge, "merge .knb / .kdb files into a new .knb (episode ids renumbered unless --keep-ids)",
            "kinonb merge a.knb b.knb -o all.knb --filter \"success = true\"")
    p.add_argument("inputs", nargs="+", help="input files, copied in this order")
    p.add_argument("-o", "--output", required=True, help="the new .knb file")
    p.add_argument("--filter", default=None, help="KQL: keep only the episodes it selects")
    p.add_argument("--keep-ids", action="store_true", help="keep episode ids (an error when two collide)")
    p.add_argument("--compress", choices=["none", "lz4"], default=None,
                   help="camera compression (default: lz4 when an input uses it)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = add("mix", cmd_mix, "plan a weighted mixture of files (relative weights, as kinodb's from_mixture)",
            "kinonb mix --source a.knb:0.4 --source b.knb:0.6 --sample 1000 --seed 0")
    p.add_argument("--source", action="append", required=True, metavar="PATH[:WEIGHT]",
                   help="a file and its relative weight (default 1); repeat per source")
    p.add_argument("--sample", type=_nonneg_int, default=None, metavar="N",
                   help="draw N (source, episode) pairs by weight and print the counts")
    p.add_argument("--seed", type=int, default=0, help="seed of the numpy Generator (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON")

    from ..interop.ingest import FORMATS

    p = add("ingest", cmd_ingest, "convert a dataset (kdb, hdf5, lerobot, zarr, rlds) into a new .knb",
            "kinonb ingest low_dim.hdf5 -o lift.knb --format hdf5 --embodiment panda --fps 20\n"
            "  kinonb ingest pusht.zarr -o pusht.knb --format zarr --map top=img --compress lz4")
    p.add_argument("src", help="the source file or directory")
    p.add_argument("-o", "--output", required=True, help="the new .knb file")
    p.add_argument("--format", choices=FORMATS, default=None, help="the source format (default: detect)")
    p.add_argument("--embodiment", default=None, help="override the embodiment")
    p.add_argument("--task", default=None, help="override the task")
    p.add_argument("--fps", type=float, default=None, help="override the frame rate")
    p.add_argument("--max-episodes", type=_nonneg_int, default=None, metavar="N", help="stop after N episodes")
    p.add_argument("--compress", choices=["none", "lz4"], default="none", help="camera compression")
    p.add_argument("--map", action="append", metavar="NAME=KEY",
                   help="fill a role (actions, states, rewards, is_terminal) from a source key, or store a "
                        "source key under another name; repeatable")
    p.add_argument("--split", default=None, help="hdf5: keep the demos of mask/SPLIT; rlds: read one split")
    p.add_argument("--keep-large-attrs", action="store_true",
                   help="hdf5: keep string attributes over 16 KiB (robosuite's model_file XML)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--json", action="store_true", help="print the report (episodes, frames, skipped, notes) as JSON")

    p = add("export", cmd_export, "write a .knb file as a kinodb .kdb file (or as a new .knb)",
            "kinonb export data.knb -o data.kdb --format kdb")
    p.add_argument("path")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--format", choices=["kdb", "knb"], default="kdb", help="output format (default kdb)")
    p.add_argument("--timestamp", type=_nonneg_int, default=None,
                   help="kdb: the header's created_timestamp (default: now), for reproducible files")
    p.add_argument("--keep-ids", action="store_true", help="kdb: store episode ids (default: positions, as kinodb)")
    p.add_argument("--compress", choices=["none", "lz4"], default=None, help="knb: camera compression")
    p.add_argument("--filter", default=None, help="knb: KQL, keep only the episodes it selects")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--json", action="store_true", help="print the report as JSON")

    p = add("bench", cmd_bench, "run the benchmark suite (bench/run.py) and print its table",
            "kinonb bench -- --episodes 10000")
    p.add_argument("bench_args", nargs=argparse.REMAINDER, help="arguments passed to bench.run")
    return parser


def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {v}")
    return v


def _pos_int(text: str) -> int:
    v = _nonneg_int(text)
    if v == 0:
        raise argparse.ArgumentTypeError("expected an integer >= 1, got 0")
    return v


def main(argv=None) -> int:
    """Run one command; returns the exit status (0 ok, 1 data problem, 2 usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help / --version (0) and argparse usage errors (2)
        return e.code if isinstance(e.code, int) else (EXIT_OK if e.code is None else EXIT_USAGE)
    if not getattr(args, "command", None):
        parser.print_usage(sys.stderr)
        print(f"{PROG}: error: a command is required (kinonb --help lists them)", file=sys.stderr)
        return EXIT_USAGE
    from ..errors import QueryError

    name = f"{PROG} {args.command}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rc = args.func(args)
        except UsageError as e:
            print(f"{name}: error: {e}", file=sys.stderr)
            rc = EXIT_USAGE
        except QueryError as e:
            if args.debug:
                traceback.print_exc()
            print(f"{name}: error: {_one_line(e)}", file=sys.stderr)
            rc = EXIT_USAGE
        except KeyboardInterrupt:
            print(f"{name}: interrupted", file=sys.stderr)
            rc = 130
        except Exception as e:  # noqa: BLE001 - every other failure is reported as one line (exit 1)
            if args.debug:
                traceback.print_exc()
            print(f"{name}: error: {_one_line(e)}", file=sys.stderr)
            rc = EXIT_DATA
    _print_warnings(caught, args)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
