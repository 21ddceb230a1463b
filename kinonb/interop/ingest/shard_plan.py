"""The plan of a sharded ingest (:mod:`.shards`): ``DIR/.kinonb-ingest/plan.json``, what a run continues from.

    {"format": "kinonb.ingest-plan/1", "source": "/abs/path", "source_format": "hdf5",
     "options": {"fps": 20, ...}, "total": 100, "shards": [[0, 34], [34, 67], [67, 100]],
     "done": [true, false, false], "reports": [{"notes": [...], "skipped": [...], ...}, null, null]}

Shard i holds the source episodes ``shards[i]`` (start, stop): contiguous runs in source order, balanced
(``np.array_split``), so the shards in name order are the source in order. ``options`` are the ingest options
that decide what is written (not progress / overwrite); a run whose source, format, options or shard count
differ from the plan's is refused. The plan is rewritten atomically each time a shard is done. While shard i is
written it is ``.kinonb-ingest/shard-0000i.knb.partial``, a file that commits on the way; when complete it is
renamed to ``shard-0000i.knb``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ...errors import FormatError, InvalidArgumentError, OutputExistsError
from ...store.atomic import atomic_output
from ..dataset.manifest import MANIFEST_NAME

STATE_DIR = ".kinonb-ingest"
PLAN_NAME = "plan.json"
PLAN_FORMAT = "kinonb.ingest-plan/1"
SHARD_NAME = re.compile(r"shard-\d{5}\.knb$")
#: Options that say how an ingest runs, not what it writes: left out of the plan.
RUN_OPTIONS = ("progress", "overwrite")


def shard_name(i: int) -> str:
    return f"shard-{i:05d}.knb"


def partial_path(out_dir, i: int) -> Path:
    """Where shard ``i`` is written until it is complete."""
    return Path(out_dir) / STATE_DIR / f"{shard_name(i)}.partial"


@dataclass
class Plan:
    source: str
    source_format: str
    options: dict
    total: int
    shards: list  # [start, stop] of each shard
    done: list  # bool per shard
    reports: list  # per shard: its report's notes / skipped / cameras / columns once done, else None

    @classmethod
    def new(cls, src, fmt: str, options: dict, total: int, shards: int) -> "Plan":
        if total < 1:
            raise InvalidArgumentError(f"{src}: no episode to ingest (after filters and max_episodes)")
        if shards > total:
            raise InvalidArgumentError(f"shards={shards} is more than the {total} source episodes; "
                                       f"use at most {total}")
        parts = np.array_split(np.arange(total), shards)
        ranges = [[int(p[0]), int(p[-1]) + 1] for p in parts]
        return cls(source_key(src), fmt, plan_options(options), total, ranges, [False] * shards, [None] * shards)

    def names(self) -> list[str]:
        return [shard_name(i) for i in range(len(self.shards))]

    def differences(self, source: str, fmt: str, options: dict, shards: int) -> list[str]:
        """What a run asking for ``source`` / ``fmt`` / ``options`` (:func:`plan_options`) / ``shards`` asks for
        that this plan (on disk) does not."""
        out = [f"{field} {theirs!r} (the plan has {mine!r})" for field, mine, theirs in (
            ("source", self.source, source), ("format", self.source_format, fmt),
            ("shards", len(self.shards), shards)) if mine != theirs]
        for key in sorted(set(self.options) | set(options)):
            if self.options.get(key) != options.get(key):
                out.append(f"option {key}={options.get(key)!r} (the plan has {self.options.get(key)!r})")
        return out

    def summary(self, i: int, report) -> None:
        """Record shard ``i`` done, with what its report says (for the merged report of a later run)."""
        self.done[i] = True
        self.reports[i] = {k: list(getattr(report, k)) for k in ("notes", "skipped", "cameras", "columns")}


def source_key(src) -> str:
    return os.path.abspath(os.fspath(src))


def plan_options(options: dict) -> dict:
    """The options that decide the content, as the JSON they are stored as (None-valued ones left out)."""
    kept = {k: v for k, v in options.items() if k not in RUN_OPTIONS and v is not None}
    try:
        return json.loads(json.dumps(kept, sort_keys=True))
    except (TypeError, ValueError) as e:
        raise InvalidArgumentError(f"a sharded ingest records its options as JSON; {e}") from None


def load_plan(out_dir) -> Plan | None:
    """The plan in ``out_dir``, or None when it has none."""
    path = Path(out_dir) / STATE_DIR / PLAN_NAME
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_bytes())
        if doc.pop("format") != PLAN_FORMAT:
            raise ValueError(f"not {PLAN_FORMAT}")
        plan = Plan(**doc)
        n = len(plan.shards)
        if not (n == len(plan.done) == len(plan.reports)) or not isinstance(plan.options, dict):
            raise ValueError("shards, done and reports of different lengths")
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise FormatError(str(path), 0, f"a {PLAN_FORMAT} plan",
                          f"an unreadable one ({e})", "start afresh with --overwrite (overwrite=True)") from None
    return plan


def save_plan(out_dir, plan: Plan) -> None:
    """Write the plan atomically (a crash leaves the old plan or the new one)."""
    path = Path(out_dir) / STATE_DIR / PLAN_NAME
    text = json.dumps({"format": PLAN_FORMAT, **asdict(plan)}, indent=1).encode()
    with atomic_output(path, overwrite=True, purpose="plan") as tmp:
        Path(tmp).write_bytes(text)


def clear_outputs(out_dir) -> None:
    """Remove what a sharded ingest writes in ``out_dir`` (its state folder, ``shard-NNNNN.knb`` files and the
    manifest); nothing else in the folder is touched."""
    out_dir = Path(out_dir)
    shutil.rmtree(out_dir / STATE_DIR, ignore_errors=True)
    for entry in out_dir.iterdir():
        if (SHARD_NAME.match(entry.name) or entry.name == MANIFEST_NAME) and entry.is_file():
            entry.unlink()


def refuse_foreign(out_dir) -> None:
    """OutputExistsError when ``out_dir`` holds shards or a manifest but no plan (not this kind of ingest's)."""
    found = sorted(e.name for e in Path(out_dir).iterdir() if SHARD_NAME.match(e.name) or e.name == MANIFEST_NAME)
    if found:
        raise OutputExistsError(f"{out_dir} holds {', '.join(found[:3])}{' ...' if len(found) > 3 else ''} but no "
                                f"{STATE_DIR}/{PLAN_NAME}; overwrite=True (--overwrite) replaces them")
