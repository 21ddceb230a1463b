"""The history and edit commands: ``log``, ``diff``, ``compact``, ``delete``, ``relabel`` and ``annotate``.

Edits are checked whole before anything is written: every position, field and value of the input file, then
one commit with all of them (``--dry-run`` prints the changes and writes nothing).
"""

from __future__ import annotations

import csv
import datetime
import json
import math
from pathlib import Path

from ..errors import InvalidArgumentError, UsageError
from .output import EXIT_OK, _info, _print_json, escaped

RELABEL_FIELDS = ("task", "embodiment", "success", "total_reward", "fps", "attrs")
ANNOTATE_FIELDS = ("instructions", "segments")


def _when(t) -> str:
    return "-" if t is None else datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(
        timespec="seconds")


def cmd_log(args) -> int:
    from ..store.history import history

    records = history(args.path)
    if args.json:
        _print_json([{"seq": r.seq, "time": r.time, "episodes": r.num_episodes, "bytes": r.nbytes, "minor": r.minor,
                      "added": r.added, "changes": r.changes, "summary": r.describe()} for r in records])
        return EXIT_OK
    print(f"{'commit':>6}  {'time (UTC)':<25} {'episodes':>9} {'bytes':>12}  changes")
    for r in records:
        print(f"{r.seq:>6}  {_when(r.time):<25} {r.num_episodes:>9} {r.nbytes:>12}  {escaped(r.describe())}")
    return EXIT_OK


def _commit_ref(text: str):
    """``path`` or ``path@k`` (commit k, negative from the newest) -> path or (path, k)."""
    path, at, k = text.rpartition("@")
    if not at or Path(text).exists():
        return text
    try:
        return (path, int(k))
    except ValueError:
        raise UsageError(f"{text!r}: expected FILE or FILE@COMMIT with an integer commit (e.g. data.knb@-2)") from None


def cmd_diff(args) -> int:
    from ..ops.diff import diff

    try:
        result = diff(_commit_ref(args.a), _commit_ref(args.b))
    except InvalidArgumentError as e:  # no such commit
        raise UsageError(str(e)) from None
    if args.json:
        _print_json(result.as_dict())
        return EXIT_OK
    print(f"added {len(result.added)}, removed {len(result.removed)}, changed {len(result.changed)}, "
          f"unchanged {result.same}")
    for label, positions in (("added (positions in B)", result.added), ("removed (positions in A)", result.removed)):
        if positions:
            print(f"  {label}: {_ranges(positions)}")
    for a, b, what in result.changed:
        print(f"  changed: A {a} -> B {b}: {', '.join(what)}")
    return EXIT_OK


def _ranges(positions: list[int]) -> str:
    out, start = [], None
    for i, p in enumerate(positions):
        if start is None:
            start = p
        if i + 1 == len(positions) or positions[i + 1] != p + 1:
            out.append(str(start) if start == p else f"{start}-{p}")
            start = None
    return ", ".join(out)


def cmd_compact(args) -> int:
    from ..ops.compact import compact

    report = compact(args.path, args.output, overwrite=args.overwrite)
    saved = report.bytes_before - report.bytes_after
    if args.json:
        _print_json({**report.as_dict(), "bytes_reclaimed": saved})
        return EXIT_OK
    share = 100.0 * saved / report.bytes_before if report.bytes_before else 0.0
    print(f"wrote {args.output}: {report.episodes} episodes, {report.bytes_after} bytes (was {report.bytes_before}; "
          f"{saved} bytes reclaimed, {share:.1f}%)")
    return EXIT_OK


def _positions(specs: list[str], n: int) -> list[int]:
    """``3``, ``3:7`` (3 to 6) -> positions, each checked against the ``n`` episodes."""
    out = set()
    for spec in specs:
        lo, colon, hi = spec.partition(":")
        try:
            a = int(lo)
            b = int(hi) if colon else a + 1
        except ValueError:
            raise UsageError(f"position {spec!r}: expected an integer or a range A:B") from None
        if not 0 <= a < b <= n:
            raise UsageError(f"position {spec!r}: the file has episodes 0..{n - 1}")
        out.update(range(a, b))
    return sorted(out)


def cmd_delete(args) -> int:
    from ..interop.opener import open as open_db

    db = open_db(args.path)
    chosen = set(_positions(args.positions, len(db)))
    if args.query:
        chosen.update(db.query(args.query))
    chosen = sorted(chosen)
    if not chosen:
        raise UsageError("nothing to delete: give positions and/or --query")
    if args.dry_run or args.json:
        rows = [{"position": p, "episode_id": db.read_meta(p)["episode_id"], "task": db.read_meta(p)["task"]}
                for p in chosen]
    if args.dry_run:
        if args.json:
            _print_json({"dry_run": True, "delete": rows})
        else:
            print(f"would delete {len(chosen)} of {len(db)} episodes: {_ranges(chosen)} (nothing written)")
        return EXIT_OK
    seq = _commit(args.path, lambda w: w.delete_episodes(chosen))
    if args.json:
        _print_json({"commit": seq, "deleted": rows, "episodes": len(db) - len(chosen)})
    else:
        _info(args, f"deleted {len(chosen)} episodes from {args.path} in commit {seq}; {len(db) - len(chosen)} left")
    return EXIT_OK


def _commit(path, edit) -> int:
    from ..store.writer import append

    with append(path) as w:
        edit(w)
    from ..interop.opener import open as open_db

    return open_db(path).commit_seq


def cmd_relabel(args) -> int:
    return _set_fields(args, RELABEL_FIELDS, "relabel")


def cmd_annotate(args) -> int:
    return _set_fields(args, ANNOTATE_FIELDS, "annotate")


def _set_fields(args, allowed: tuple, verb: str) -> int:
    from ..interop.opener import open as open_db

    db = open_db(args.path)
    changes = _read_changes(Path(args.source), allowed, len(db))
    before = {p: db.read_meta(p) for p in changes}
    _check_with_a_dry_writer(args.path, changes)
    listing = [{"position": p, "before": {k: _current(before[p], k) for k in fields}, "after": fields}
               for p, fields in sorted(changes.items())]
    if args.dry_run:
        if args.json:
            _print_json({"dry_run": True, verb: listing})
        else:
            for row in listing:
                for k, v in row["after"].items():
                    print(f"{row['position']:>6} {k}: {escaped(json.dumps(row['before'][k], ensure_ascii=False))} -> "
                          f"{escaped(json.dumps(v, ensure_ascii=False))}")
            print(f"would {verb} {len(changes)} episodes (nothing written)")
        return EXIT_OK
    seq = _commit(args.path, lambda w: [w.set_meta(p, **f) for p, f in sorted(changes.items())])
    if args.json:
        _print_json({"commit": seq, verb: listing})
    else:
        _info(args, f"{verb}: {len(changes)} episodes of {args.path} changed in commit {seq}")
    return EXIT_OK


def _current(meta: dict, key: str):
    return meta["attrs"].get(key) if key in ANNOTATE_FIELDS else meta.get(key)


def _check_with_a_dry_writer(path, changes: dict) -> None:
    """Run every set_meta on a writer that is then aborted: a refused value stops here, before any commit."""
    from ..errors import KinonbError
    from ..store.writer import append

    w = append(path)
    try:
        for p, fields in sorted(changes.items()):
            try:
                w.set_meta(p, **fields)
            except (KinonbError, TypeError, ValueError) as e:
                raise UsageError(f"position {p}: {e}") from None
    finally:
        w.abort()
        w.close()


def _read_changes(source: Path, allowed: tuple, n: int) -> dict:
    """``{position: {field: value}}`` from a JSON object or list, or a CSV with a ``position`` column."""
    if not source.is_file():
        raise UsageError(f"{source}: no such file")
    text = source.read_text(encoding="utf-8")
    if source.suffix.lower() == ".csv":
        rows = [(f"row {k + 2}", row) for k, row in enumerate(csv.DictReader(text.splitlines()))]
        rows = [(where, {k: _csv_value(k, v, where) for k, v in row.items() if v not in (None, "")})
                for where, row in rows]  # an empty cell leaves that field as it is
    else:
        try:
            data = json.loads(text)
        except ValueError as e:
            raise UsageError(f"{source}: not JSON ({e})") from None
        if isinstance(data, dict):
            rows = [(f"key {k!r}", {"position": k, **v} if isinstance(v, dict) else None) for k, v in data.items()]
        elif isinstance(data, list):
            rows = [(f"item {k}", v if isinstance(v, dict) else None) for k, v in enumerate(data)]
        else:
            raise UsageError(f"{source}: expected a JSON object {{position: {{field: value}}}} or a list of objects")
    changes: dict[int, dict] = {}
    for where, row in rows:
        changes.update([_checked_row(source, where, row, allowed, n)])
    return changes


def _checked_row(source, where, row, allowed, n):
    if not isinstance(row, dict) or "position" not in row:
        raise UsageError(f"{source} {where}: expected an object with a position and fields")
    fields = {k: v for k, v in row.items() if k != "position"}
    try:
        p = int(row["position"])
    except (TypeError, ValueError):
        raise UsageError(f"{source} {where}: position {row['position']!r} is not an integer") from None
    if not 0 <= p < n:
        raise UsageError(f"{source} {where}: position {p} out of range (the file has episodes 0..{n - 1})")
    unknown = sorted(set(fields) - set(allowed))
    if unknown or not fields:
        raise UsageError(f"{source} {where}: fields {unknown or 'none'}; this command sets {', '.join(allowed)}")
    return p, fields


def _csv_value(key: str, text, where: str):
    if key == "position":
        return text
    if key == "success":
        return {"unknown": None, "null": None, "true": True, "false": False}.get(text.strip().lower(), text)
    if key in ("total_reward", "fps"):
        try:
            value = float(text)
        except ValueError:
            raise UsageError(f"{where}: {key} {text!r} is not a number") from None
        return value if math.isfinite(value) else text
    if key == "instructions":
        return [s.strip() for s in text.split("|") if s.strip()]
    if key in ("segments", "attrs"):
        try:
            return json.loads(text)
        except ValueError:
            raise UsageError(f"{where}: {key} must be JSON, got {text[:40]!r}") from None
    return text
