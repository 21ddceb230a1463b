"""The read-only commands: ``info``, ``schema`` and ``query`` (of a .knb or a kinodb .kdb file)."""

from __future__ import annotations

import os
import warnings

from .output import EXIT_OK, _print_json, escaped, escaped_lines

META_HEADER = f"{'pos':>6} {'id':>8} {'frames':>7} {'fps':>6} {'success':>7} {'reward':>9}  {'embodiment':<16} task"


def _open(path):
    from ..interop.opener import open as open_db

    return open_db(path)


def _meta_row(p: int, m: dict) -> str:
    success = {None: "-", True: "yes", False: "no"}[m["success"]]
    reward = "-" if m["total_reward"] is None else f"{m['total_reward']:.4g}"
    return (f"{p:>6} {m['episode_id']:>8} {m['num_frames']:>7} {m['fps']:>6.4g} {success:>7} {reward:>9}  "
            f"{escaped(m['embodiment'][:16]):<16} {escaped(m['task'])}")


def cmd_info(args) -> int:
    from ..errors import TornTailWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TornTailWarning)  # info reports ignored_bytes itself
        db = _open(args.path)
    kdb = db.format_name == "kdb"
    out = {
        "path": str(args.path),
        "format": db.format_name,
        "version": db.version(),
        "num_episodes": db.num_episodes(),
        "num_frames": db.num_frames(),
        "file_size_bytes": _size(args.path, db),
        "schema": db.schema(),
        "cameras": db.camera_names(),
        "ignored_bytes": db.ignored_bytes,
    }
    if not kdb and db.commit_seq is not None:
        out["commits"] = db.commit_seq
    if args.episodes:
        out["episodes"] = [db.read_meta(i) for i in range(len(db))]
    if args.json:
        _print_json(out)
        return EXIT_OK
    print(escaped_lines(db.summary()))
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


def _size(path, db) -> int:
    """The file's bytes; a dataset's, its shards' together."""
    from ..interop.dataset import is_dataset_location

    if is_dataset_location(path):
        return sum(os.path.getsize(p) for p in db.shard_paths)
    return os.path.getsize(path)


def cmd_schema(args) -> int:
    db = _open(args.path)
    cols = db.schema()
    if args.json:
        _print_json(cols)
        return EXIT_OK
    print(f"{'name':<24} {'role':<11} {'dtype':<8} {'shape':<16} codec")
    for c in cols:
        print(f"{escaped(c['name']):<24} {c['role']:<11} {c['dtype']:<8} {str(tuple(c['shape'])):<16} {c['codec']}")
    return EXIT_OK


def cmd_query(args) -> int:
    db = _open(args.path)
    positions = db.query(args.kql)
    shown = positions if args.limit is None else positions[: args.limit]
    metas = [db.read_meta(p) for p in shown]
    if args.json:
        _print_json({"query": args.kql, "count": len(positions), "positions": shown, "episodes": metas})
        return EXIT_OK
    print(f"{len(positions)} of {len(db)} episodes match: {escaped(args.kql)}")
    if metas:
        print(META_HEADER)
        for p, m in zip(shown, metas):
            print(_meta_row(p, m))
    if len(shown) < len(positions):
        print(f"... {len(positions) - len(shown)} more (--limit {args.limit})")
    return EXIT_OK
