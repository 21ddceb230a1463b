"""kinodb ``.kdb`` v0.1 files (no extra; JPEG/PNG images need Pillow, the ``images`` extra).

Every episode is copied as :class:`~kinonb.interop.KdbDatabase` reads it: actions, states, rewards and
is_terminal (float32 / bool, as stored), images (raw pixels as stored; JPEG/PNG decoded to uint8, so a JPEG file
becomes raw or lz4 frames), embodiment, task, fps, success, total_reward and the episode id. ``.kdb`` always
stores a reward per frame, so rewards are always present. embodiment / task / fps options override the file's.

Runs of low-dim episodes (no camera in any frame) are copied in bulk: one compiled pass gathers a run's low-dim
sections into concatenated arrays, its metadata comes from the reader's metadata table (one numpy pass over
every meta blob), and the run is written with one ``Writer.add_episodes`` call (an :class:`EpisodeBatch`).
Every other episode is read with ``read_episode`` and written with ``add_episode``, in file order; the output
is the one that path alone writes (tests/interop/test_ingest_kdb_bulk.py).
"""

from __future__ import annotations

import numpy as np

from ...errors import FormatError, InvalidArgumentError
from ...kernels.kdb_lowdim import all_zero, gather_lowdim
from ...store.transfer import episode_kwargs
from ..kdb_reader import KdbDatabase
from . import EpisodeBatch, Report, check_options, selected, write_ingest

META_FROM = {f: f"the .kdb episode's {f}" for f in ("task", "embodiment", "fps")}
#: A bulk run is cut after this many episodes or low-dim bytes.
RUN_EPISODES = 1 << 16
RUN_BYTES = 32 << 20
#: Shorter runs are read episode by episode: a batch costs more than a few staged add_episode calls.
MIN_RUN = 8


def ingest_kdb(src, out, *, embodiment=None, task=None, fps=None, max_episodes=None, compression=None,
               key_map=None, overwrite=False, progress=None, episodes=None) -> Report:
    """Convert a kinodb ``.kdb`` file to .knb."""
    key_map = check_options(fps=fps, max_episodes=max_episodes, compression=compression, key_map=key_map)
    if key_map:
        raise InvalidArgumentError(f"key_map does not apply to .kdb files (their keys are fixed), got {key_map}")
    db = KdbDatabase(src)
    report = Report("ingest", source=str(src), output=str(out), format="kdb")
    chosen = selected(len(db), max_episodes, episodes)
    return write_ingest(out, _items(db, chosen), report, compression=compression, overwrite=overwrite,
                        progress=progress, total=len(chosen), embodiment=embodiment, task=task, fps=fps,
                        meta_from=META_FROM)


def _items(db: KdbDatabase, chosen: range):
    """Episodes ``chosen`` (start..stop-1) in order: EpisodeBatches of the bulk runs, add_episode dicts between
    them."""
    start, n = chosen.start, chosen.stop
    bulk, meta = _bulk(db, n)
    pos = start
    for lo, hi in _runs(db.index()[:n], bulk, meta, start):
        yield from _one_by_one(db, pos, lo)
        yield _batch(db, meta, lo, hi)
        pos = hi
    yield from _one_by_one(db, pos, n)


def _one_by_one(db: KdbDatabase, lo: int, hi: int):
    for i in range(lo, hi):
        yield dict(episode_kwargs(db.read_episode(i), keep_id=True), source=f"episode {i}")


def _bulk(db: KdbDatabase, n: int):
    """(which of episodes 0..n-1 the bulk path copies, the metadata table or None). An episode qualifies with
    frames, an image section of one u16 camera count a frame with every count 0, an id below 2**63 and an fps
    add_episode takes; the others (and every episode, when a meta blob is corrupt) go through
    read_episode, which raises what it raises today. The index check at open placed every section inside the
    file with the low-dim length num_frames x (4 (S + A) + 5); the same is checked again here, cheaply, before
    a kernel is given the bytes."""
    idx, buf = db.index()[:n], db.buffer()
    nf = idx["num_frames"].astype(np.uint64)
    per_frame = 4 * (idx["state_dim"].astype(np.uint64) + idx["action_dim"].astype(np.uint64)) + 5
    ok = (nf > 0) & (idx["images_length"] == 2 * nf) & (idx["episode_id"] < 1 << 63)
    ok &= idx["actions_length"] == nf * per_frame
    for off, ln in (("actions_offset", "actions_length"), ("images_offset", "images_length")):
        ok &= (idx[off] <= buf.size) & (idx[ln] <= buf.size - np.minimum(idx[off], buf.size))
    at = np.flatnonzero(ok)
    no_cameras = np.zeros(len(at), np.bool_)
    all_zero(buf, idx["images_offset"][at].astype(np.int64), idx["images_length"][at].astype(np.int64), no_cameras)
    ok[at] = no_cameras
    if not ok.any():
        return ok, None
    try:
        meta = db.meta_table()
    except FormatError:  # maybe past max_episodes: read_episode raises it if it comes to it
        return np.zeros(n, np.bool_), None
    fps = meta.fps[:n]
    return ok & np.isfinite(fps) & (fps >= 0), meta


def _runs(idx: np.ndarray, bulk: np.ndarray, meta, start: int = 0):
    """(lo, hi) runs of consecutive bulk episodes of one state_dim, action_dim and reward flag (add_episodes takes
    total_reward for all or none), from episode ``start`` on, cut at RUN_EPISODES / RUN_BYTES; runs under MIN_RUN
    episodes are left out."""
    if meta is None:
        return
    n = len(idx)
    key = (idx["state_dim"].astype(np.int64) | idx["action_dim"].astype(np.int64) << 16
           | meta.has_reward[:n].astype(np.int64) << 32)
    key = np.where(bulk, key, -1)
    key[:start] = -2  # before the selection: a run of its own, left out
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(key)) + 1, [n]]).tolist()
    ends = np.cumsum(idx["actions_length"].astype(np.int64))
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        if key[lo] < 0 or hi - lo < MIN_RUN:
            continue
        while lo < hi:
            base = int(ends[lo - 1]) if lo else 0
            stop = min(hi, lo + RUN_EPISODES, int(np.searchsorted(ends, base + RUN_BYTES, side="right")))
            stop = max(stop, lo + 1)
            yield lo, stop
            lo = stop


def _batch(db: KdbDatabase, meta, lo: int, hi: int) -> EpisodeBatch:
    """Episodes lo..hi-1 (a run from _runs) as one EpisodeBatch."""
    idx = db.index()[lo:hi]
    s, a = int(idx["state_dim"][0]), int(idx["action_dim"][0])
    lengths = idx["num_frames"].astype(np.int64)
    f = int(lengths.sum())
    states, actions, rewards = (np.empty(4 * f * d, np.uint8) for d in (s, a, 1))
    terminal = np.empty(f, np.bool_)
    gather_lowdim(db.buffer(), idx["actions_offset"].astype(np.int64), lengths, s, a, states, actions, rewards,
                  terminal)
    arrays = {"actions": actions.view("<f4").reshape(f, a), "states": states.view("<f4").reshape(f, s),
              "rewards": rewards.view("<f4"), "is_terminal": terminal}
    rows = slice(lo, hi)
    values = {"task": (meta.task_id[rows], meta.strings), "embodiment": (meta.embodiment_id[rows], meta.strings),
              "fps": meta.fps[rows], "success": meta.success[rows].astype(np.uint8),
              "total_reward": meta.total_reward[rows] if meta.has_reward[lo] else None,
              "episode_id": idx["episode_id"].astype(np.uint64)}
    return EpisodeBatch(f"episodes {lo}..{hi - 1}", lengths, arrays, values)
