"""``compact``: a new file holding only what the newest commit of a .knb file uses.

Edit commits (delete, relabel, trim, add_column) leave the bytes they no longer use in the file: earlier
footers, deleted or replaced blocks, old attrs. ``compact`` copies the live episodes, in order, into a new file
(written to a temporary and renamed into place): ids, metadata, attrs, columns and every camera's codec as they
are (JPEG and video bytes copied, not encoded again; lz4 frames losslessly re-encoded), statistics recomputed
exactly. The history of the source is not carried over.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InvalidArgumentError
from ..store.reader import Database
from ..store.report import Report
from ..store.transfer import episode_kwargs, write_episodes


def compact(src, out, *, overwrite: bool = False, progress=None) -> Report:
    """Write the live episodes of ``src`` to the new file ``out``; the report gives ``bytes_before`` and
    ``bytes_after``."""
    src, out = Path(os.fspath(src)), Path(os.fspath(out))
    if out.exists() and os.path.samefile(src, out):
        raise InvalidArgumentError(f"compact writes a new file: {out} is the source")
    db = Database(src)
    schema = db.schema()
    codecs = {c["name"]: c["codec"] for c in schema if c["role"] == "camera" and c["codec"] != "raw"}
    lz4 = [name for name, codec in codecs.items() if codec == "lz4"]

    def episodes():
        for i in range(len(db)):
            ep = db.read_episode(i, raw_frames=True)
            for name in lz4:
                if name in ep["images"]:
                    ep["images"][name] = db.frames(i, name)
            kw = episode_kwargs(ep)
            kw["source"] = f"{src} episode {i}"
            yield kw

    report = Report("compact", source=str(src), output=str(out), bytes_before=os.path.getsize(src))
    write_episodes(out, episodes(), report, compression=codecs or None, overwrite=overwrite, progress=progress,
                   total=len(db))
    report.bytes_after = os.path.getsize(out)
    return report
