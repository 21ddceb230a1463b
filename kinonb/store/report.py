"""``Report``: what one operation (validate, ingest, merge, export) found or did, as one type.

Fields an operation does not fill stay None and are left out of :meth:`Report.as_dict` (the CLI's ``--json``),
so each operation's JSON shows only what it measured.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, fields

from ..errors import IngestWarning


@dataclass
class Report:
    operation: str  # "validate", "salvage", "ingest", "merge", "export" or "compact"
    path: str | None = None  # the file validated
    source: str | None = None  # the file or folder read (ingest, export)
    output: str | None = None  # the file written (ingest, merge, export)
    format: str | None = None  # the source format (ingest) or output format (export)
    ok: bool | None = None  # validate: no error found
    episodes: int = 0
    frames: int = 0
    commits: int | None = None
    ignored_bytes: int | None = None
    deep: bool | None = None
    blocks_checked: int | None = None
    nan_count: dict | None = None
    inf_count: dict | None = None
    unreachable_bytes: int | None = None  # validate: bytes after the last intact commit that hold data
    recoverable_episodes: int | None = None  # validate: episodes in those bytes that `kinonb salvage` recovers
    recovered: int | None = None  # salvage: episodes written to the output
    lost_episodes: int | None = None  # salvage: episodes the file held but not recovered
    lost: list | None = None  # salvage: "episodes A..B: why" for every episode the file held but not recovered
    inputs: list | None = None  # merge: one dict per input (path, episodes, selected)
    renumbered: bool | None = None  # merge: episode ids renumbered 0..N-1
    skipped_episodes: list | None = None  # export: source positions of episodes the output format cannot hold
    bytes_before: int | None = None  # compact: size of the source file
    bytes_after: int | None = None  # compact: size of the file written
    cameras: list = field(default_factory=list)
    columns: list = field(default_factory=list)
    #: "what: why" for everything in the source that is not in the output.
    skipped: list = field(default_factory=list)
    #: decisions worth knowing (where each role came from, lossy casts, defaults, what was left empty).
    notes: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    def skip(self, what: str, why: str, *, stacklevel: int = 3) -> None:
        """Record, and announce with an IngestWarning once per ``what``, something left out of the output."""
        if any(line.startswith(f"{what}: ") for line in self.skipped):
            return
        line = f"{what}: {why}"
        self.skipped.append(line)
        where = self.source if self.output is None else f"{self.source}: {self.output}"
        warnings.warn(f"{where}: skipped {line}", IngestWarning, stacklevel=stacklevel)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def fail(self, error: BaseException) -> None:
        self.ok = False
        self.errors.append(str(error))

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}
