"""Runs of episodes an ingest writes with one ``Writer.add_episodes`` call each (issue 18 req 4: a low-dim
``.kdb`` ingests at kinodb's write rate), and the writing loop of :func:`kinonb.interop.ingest.write_ingest`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ...errors import SchemaError
from ...format import success as success_code
from ...store.atomic import atomic_output
from ...store.report import Report
from ...store.transfer import with_progress
from ...store.writer import create


@dataclass
class EpisodeBatch:
    """Consecutive low-dim episodes that :func:`~kinonb.interop.ingest.write_ingest` writes with one ``Writer.add_episodes`` call:
    ``arrays`` ({actions / states / rewards / is_terminal: every episode's frames, concatenated}), ``lengths``,
    and ``meta``, one value per episode: ``task`` / ``embodiment`` as (codes, strings) (episode i's is
    ``strings[codes[i]]``), ``fps`` float64, ``success`` uint8 codes, ``total_reward`` float64 or None (no
    episode has one), ``episode_id`` uint64; an override replaces task / embodiment / fps by one value."""

    source: str
    lengths: np.ndarray
    arrays: dict
    meta: dict

    def __len__(self) -> int:
        return len(self.lengths)

    def coded(self, field: str) -> tuple[np.ndarray, list]:
        """(each episode's code, the values the codes index) of task, embodiment or fps."""
        if field != "fps":
            return self.meta[field]
        values, codes = np.unique(self.meta["fps"], return_inverse=True)
        return codes, values.tolist()

    def kwargs(self) -> dict:
        """Writer.add_episodes keyword arguments; a value every episode shares is given once."""
        m = self.meta
        kw = dict(self.arrays, lengths=self.lengths, total_reward=m["total_reward"], episode_id=m["episode_id"])
        for f in ("task", "embodiment"):
            if isinstance(m[f], str):
                kw[f] = m[f]
                continue
            codes, strings = m[f]
            kw[f] = strings[int(codes[0])] if (codes == codes[0]).all() else [strings[k] for k in codes.tolist()]
        kw["fps"] = fps = m["fps"]
        if np.ndim(fps):
            bits = fps.view(np.uint64)  # compared as bits: an fps of -0.0 is stored as given
            kw["fps"] = float(fps[0]) if (bits == bits[0]).all() else fps
        codes = m["success"]
        if (codes == codes[0]).all():
            kw["success"] = success_code.decode(codes[0])
        elif (codes != success_code.UNKNOWN).all():
            kw["success"] = codes == success_code.TRUE
        else:
            kw["success"] = [success_code.VALUES[c] for c in codes.tolist()]
        return kw


def write_items(out, items, report: Report, *, compression=None, overwrite=False, progress=None,
                total: int | None = None) -> None:
    """:func:`~kinonb.store.transfer.write_episodes` for an ingest, whose ``items`` are add_episode keyword dicts
    (an optional ``source`` names one in a SchemaError) and EpisodeBatches; ``progress`` counts episodes."""
    cameras, columns = {}, {}
    with atomic_output(out, overwrite=overwrite, purpose="ingesting") as tmp:
        # One commit: the file appears by rename when complete, so commits on the way would only add footers.
        with create(tmp, compression=None if compression == "none" else compression, overwrite=True,
                    sync=False, autocommit_bytes=None) as w:
            for seen, ep in enumerate(with_progress(_per_episode(items), progress, total)):
                if ep is None:
                    continue
                batch = isinstance(ep, EpisodeBatch)
                where = ep.source if batch else ep.pop("source", None) or f"source episode {seen}"
                try:
                    w.add_episodes(**ep.kwargs()) if batch else w.add_episode(**ep)
                except SchemaError as e:
                    raise SchemaError(f"{where}: {e}") from e
                report.episodes += len(ep) if batch else 1
                if not batch:
                    cameras.update(dict.fromkeys(ep.get("images") or {}))
                    columns.update(dict.fromkeys(ep.get("columns") or {}))
            report.frames = w.num_frames
    report.cameras, report.columns = list(cameras), list(columns)


def _per_episode(items):
    """``items``, each batch followed by ``len(batch) - 1`` Nones: one item per episode."""
    for item in items:
        yield item
        if isinstance(item, EpisodeBatch):
            yield from itertools.repeat(None, len(item) - 1)
