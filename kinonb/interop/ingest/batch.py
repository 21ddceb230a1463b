"""Runs of episodes an ingest writes with one ``Writer.add_episodes`` call each (issue 18 req 4: a low-dim
``.kdb`` ingests at kinodb's write rate); :func:`kinonb.store.transfer.write_episodes` writes them between the
ingest's add_episode dicts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...format import success as success_code


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
