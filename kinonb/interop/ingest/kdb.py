"""kinodb ``.kdb`` v0.1 files (no extra; JPEG/PNG images need Pillow, the ``images`` extra).

Every episode is copied as :class:`~kinonb.interop.KdbDatabase` reads it: actions, states, rewards and
is_terminal (float32 / bool, as stored), images (raw pixels as stored; JPEG/PNG decoded to uint8, so a JPEG file
becomes raw or lz4 frames), embodiment, task, fps, success, total_reward and the episode id. ``.kdb`` always
stores a reward per frame, so rewards are always present. embodiment / task / fps options override the file's.
"""

from __future__ import annotations

from ...errors import InvalidArgumentError
from ...store.transfer import episode_kwargs
from ..kdb_reader import KdbDatabase
from . import Report, check_options, write_ingest

META_FROM = {f: f"the .kdb episode's {f}" for f in ("task", "embodiment", "fps")}


def ingest_kdb(src, out, *, embodiment=None, task=None, fps=None, max_episodes=None, compression=None,
               key_map=None, overwrite=False, progress=None) -> Report:
    """Convert a kinodb ``.kdb`` file to .knb."""
    key_map = check_options(fps=fps, max_episodes=max_episodes, compression=compression, key_map=key_map)
    if key_map:
        raise InvalidArgumentError(f"key_map does not apply to .kdb files (their keys are fixed), got {key_map}")
    db = KdbDatabase(src)
    report = Report("ingest", source=str(src), output=str(out), format="kdb")
    n = len(db) if max_episodes is None else min(len(db), int(max_episodes))
    episodes = (dict(episode_kwargs(db.read_episode(i), keep_id=True), source=f"episode {i}") for i in range(n))
    return write_ingest(out, episodes, report, compression=compression, overwrite=overwrite, progress=progress,
                        total=n, embodiment=embodiment, task=task, fps=fps, meta_from=META_FROM)
