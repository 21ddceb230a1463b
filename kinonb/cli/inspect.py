"""The read-only commands: ``info``, ``schema`` and ``query`` (of a .knb or a kinodb .kdb file)."""

from __future__ import annotations

import os
import warnings

from .output import EXIT_OK, _print_json

META_HEADER = f"{'pos':>6} {'id':>8} {'frames':>7} {'fps':>6} {'success':>7} {'reward':>9}  {'embodiment':<16} task"


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
