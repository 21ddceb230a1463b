"""Combining files: ``merge`` several .knb / .kdb files into one .knb (mixture plans: :mod:`kinonb.ops.mixture`).

Merge copies the episodes of each input in order (inputs in the order given, episodes in file order), keeping
only those a KQL ``filter`` selects. Episode ids are **renumbered** 0..N-1 in output order by default, because
ids from different files collide; ``keep_ids=True`` keeps each episode's id and raises SchemaError when two
selected episodes share one. Metadata, attrs, cameras and extra columns are copied as they are; inputs whose
columns disagree in dtype or per-frame shape raise SchemaError naming the column. The output is written to a
temporary file and renamed into place when complete.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InvalidArgumentError, SchemaError
from ..interop.opener import open as open_db
from ..store.report import Report
from ..store.transfer import episode_kwargs, write_episodes


def _uses_lz4(db) -> bool:
    return any(c["codec"] == "lz4" for c in db.schema())


def merge(inputs, out, *, filter: str | None = None, keep_ids: bool = False,  # noqa: A002
          compression: str | None = None, overwrite: bool = False, progress=None) -> Report:
    """Merge ``inputs`` (.knb or .kdb paths) into the new .knb file ``out``; see the module docstring.

    ``compression``: "lz4" or "none"; None picks lz4 when any input stores a camera with lz4.
    """
    inputs = [Path(os.fspath(p)) for p in inputs]
    if not inputs:
        raise InvalidArgumentError("merge needs at least one input file")
    out = Path(os.fspath(out))
    for p in inputs:
        if out.exists() and p.exists() and os.path.samefile(p, out):
            raise InvalidArgumentError(f"output {out} is also an input; write the merge to a new file")
    dbs = [open_db(p) for p in inputs]
    report = Report("merge", output=str(out), inputs=[], renumbered=not keep_ids)
    plan = []
    for p, db in zip(inputs, dbs):
        positions = db.query(filter) if filter else list(range(len(db)))
        plan.append((db, positions))
        report.inputs.append({"path": str(p), "episodes": len(db), "selected": len(positions)})
    if compression is None:
        compression = "lz4" if any(_uses_lz4(db) for db in dbs) else "none"
    total = sum(len(pos) for _, pos in plan)
    seen: dict[int, str] = {}

    def episodes():
        for (db, positions), p in zip(plan, inputs):
            for i in positions:
                kw = episode_kwargs(db.read_episode(i), keep_id=keep_ids)
                kw["source"] = f"{p} episode {i}"
                if keep_ids:
                    eid = kw["episode_id"]
                    if eid in seen:
                        raise SchemaError(f"episode id {eid} of {p} (position {i}) is also in {seen[eid]}; "
                                          "merge without keep_ids (--keep-ids) to renumber")
                    seen[eid] = str(p)
                yield kw  # without keep_ids the writer numbers episodes 0..N-1 in a new file

    write_episodes(out, episodes(), report, compression=compression, overwrite=overwrite, progress=progress,
                   total=total)
    return report
