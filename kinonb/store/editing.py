"""Edits as commits (format 1.2): ``delete_episodes``, ``set_meta``, ``add_column`` and ``trim`` on a writer.

Each call checks everything first, then records the edit for the next commit (:class:`.edits.PendingEdits`) and
writes only new bytes: new blocks, new attrs. Positions are the committed episodes' positions before this
commit; the commit's deletes shift later positions down when it lands. A reader open before it keeps its
snapshot, and ``kinonb.open(path, commit=k)`` reads any earlier commit.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..errors import ArgumentTypeError, PositionError, SchemaError
from ..format import layout as L
from ..format import stats as S
from ..format import success as success_code
from ..format.schema import FIXED_ROLE_NAMES
from .annotations import SEGMENTS, check_annotations, trimmed_segments, with_annotations
from .column_input import Given, check_name, episode_columns
from .column_stats import column_stats
from .episode_blocks import prepare_blocks, write_blocks
from .episode_input import as_array, attrs_blob, check_episode_meta, real_number
from .trim import trimmed_episode

#: ``set_meta``'s default for each field: leave it as it is.
KEEP = type("Keep", (), {"__repr__": lambda self: "KEEP"})()
_ROLE_OF_NAME = {name: role for role, name in FIXED_ROLE_NAMES.items()}


class Editing:
    """Mixed into :class:`kinonb.store.writer.Writer`, which owns the committed index (``_episodes``, ``_blocks``,
    ``_attrs``), the running ``_stats`` and ``_edits``."""

    def delete_episodes(self, positions) -> None:
        """Delete committed episodes (an iterable of positions) with the next commit; later positions then shift
        down. Their bytes stay in the file until ``kinonb compact``."""
        self._check_open()
        items = [positions] if isinstance(positions, (int, np.integer)) else list(positions)
        ps = sorted({self._edit_position(p) for p in items})
        for p in ps:
            self._forget_stats(p, range(len(self._columns)))
            self._edits.frames_removed += int(self._current_record(p)["num_frames"])
            self._edits.deleted.add(p)
            self._edits.note("deleted", p)

    def set_meta(self, position, *, task=KEEP, success=KEEP, total_reward=KEEP, embodiment=KEEP, fps=KEEP,
                 attrs=KEEP, instructions=KEEP, segments=KEEP) -> None:
        """Relabel a committed episode with the next commit. Fields left out keep their value; ``success=None``
        and ``total_reward=None`` clear them. ``attrs`` replaces the attrs dict; ``instructions`` (list of str) and
        ``segments`` (list of ``(start_frame, end_frame, text)``) set those annotation keys in it (None removes)."""
        self._check_open()
        p = self._edit_position(position)
        rec = self._current_record(p)
        old = {"task": self._strings[int(rec["task_id"])], "embodiment": self._strings[int(rec["embodiment_id"])],
               "fps": float(rec["fps"])}
        new = {k: old[k] if v is KEEP else v for k, v in (("task", task), ("embodiment", embodiment), ("fps", fps))}
        fps_value = check_episode_meta(new["task"], new["embodiment"], new["fps"])
        code = None if success is KEEP else success_code.encode(success)
        reward = None if total_reward is KEEP or total_reward is None else real_number("total_reward", total_reward)
        base = self._current_attrs(p) if attrs is KEEP else attrs
        if base is not None and not isinstance(base, dict):
            raise SchemaError(f"attrs must be a dict with str keys or None, got {type(base).__name__}")
        new_attrs = with_annotations(base or {}, instructions, segments, KEEP)
        check_annotations(new_attrs, int(rec["num_frames"]))
        blob = attrs_blob(new_attrs)
        # Checked: from here on the edit is recorded.
        rec["task_id"], rec["embodiment_id"], rec["fps"] = self._intern(new["task"]), self._intern(new["embodiment"]), \
            fps_value
        if code is not None:
            rec["success"] = code
        if total_reward is not KEEP:
            rec["flags"] = L.EPISODE_HAS_REWARD if reward is not None else 0
            rec["total_reward"] = 0.0 if reward is None else reward
        self._set_attrs(p, rec, new_attrs, blob)
        self._edits.records[p] = rec
        self._edits.note("relabelled", p)

    def add_column(self, position, name: str, array) -> None:
        """Give a committed episode a new per-frame column, or replace one it has (``"rewards"`` relabelled, a
        learned embedding, a depth estimate): ``array`` has the episode's T rows (states and extra columns may
        have T + 1). A name the file does not have becomes an extra column; a camera's name takes frames (or an
        ``EncodedJpeg``/``EncodedVideo``) for that camera. Only the new block is written."""
        self._check_open()
        p = self._edit_position(position)
        if not isinstance(name, str):
            raise ArgumentTypeError(f"column name must be a str, got {type(name).__name__}")
        existing = next((col for col in self._columns if col.name == name), None)
        role = _ROLE_OF_NAME.get(name, existing.role if existing is not None else L.ROLE_EXTRA)
        if role not in (*_ROLE_OF_NAME.values(), L.ROLE_EXTRA, L.ROLE_CAMERA):
            raise SchemaError(f"{name}: add_column writes per-frame columns (actions, states, rewards, is_terminal, "
                              f"cameras, extra columns); it is a {L.ROLE_NAMES[role]} column")
        value = array if role == L.ROLE_CAMERA and not isinstance(array, np.ndarray) else as_array(name, array)
        given = Given(name if role in _ROLE_OF_NAME.values() else check_name(name, "column"), role, value)
        prepared = prepare_blocks(self, int(self._current_record(p)["num_frames"]), [given])
        c = prepared[0][0]
        if c is not None:
            self._forget_stats(p, [c])
        row = write_blocks(self, prepared)
        self._edits.rows.setdefault(p, {}).update(row)
        self._edits.note("columns", p, name)

    def trim(self, position, start: int, end: int) -> None:
        """Keep frames [start, end) of a committed episode (new blocks with those frames; streams keep their
        samples from the one in effect at frame ``start`` to the last before frame ``end``; segments are clipped
        and renumbered). Video cameras are decoded and encoded again; every other codec keeps its bytes."""
        self._check_open()
        p = self._edit_position(position)
        t = int(self._current_record(p)["num_frames"])
        for label, v in (("start", start), ("end", end)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise ArgumentTypeError(f"trim {label} must be an int, got {type(v).__name__}")
        start, end = int(start), int(end)
        if not 0 <= start < end <= t:
            raise PositionError(f"trim of episode {p}: need 0 <= start < end <= {t} (its frames), got [{start}, "
                                f"{end})")
        if p in self._edits.rows:
            what = "is trimmed" if p in self._edits.replaced else "has a column added"
            raise SchemaError(f"episode {p} {what} in this commit: commit() before trimming it")
        if (start, end) == (0, t):
            return
        kw = trimmed_episode(self._snapshot(), p, start, end)
        attrs = self._current_attrs(p)
        if attrs.get(SEGMENTS):
            attrs[SEGMENTS] = trimmed_segments(attrs[SEGMENTS], start, end)
        blob = attrs_blob(attrs)
        n, given = episode_columns(**kw)
        prepared = prepare_blocks(self, n, given)
        rec = self._current_record(p)
        self._forget_stats(p, range(len(self._columns)))
        row = write_blocks(self, prepared)
        rec["num_frames"] = n
        self._edits.frames_removed += t - n
        self._set_attrs(p, rec, attrs, blob)
        self._edits.records[p] = rec
        self._edits.rows[p] = row
        self._edits.replaced.add(p)
        self._edits.note("trimmed", p)

    # -- helpers -------------------------------------------------------------------------------------------
    def _edit_position(self, position) -> int:
        n = len(self._episodes)
        if isinstance(position, bool) or not isinstance(position, (int, np.integer)):
            raise ArgumentTypeError(f"episode position must be an int, got {type(position).__name__}")
        p = int(position)
        if not 0 <= p < n:
            pending = f" ({self.pending} added since are not committed yet: commit() first)" if self.pending else ""
            raise PositionError(f"episode position {p} out of range for the {n} committed episodes of "
                                f"{self.path}{pending}")
        if p in self._edits.deleted:
            raise PositionError(f"episode {p} of {self.path} is deleted by this commit")
        return p

    def _current_record(self, p: int) -> np.ndarray:
        rec = self._edits.records.get(p)
        return (self._episodes[p] if rec is None else rec).copy()

    def _current_attrs(self, p: int) -> dict:
        if p in self._edits.attrs:
            return dict(self._edits.attrs[p])
        rec = self._episodes[p]
        off, length = int(rec["attrs_offset"]), int(rec["attrs_length"])
        return json.loads(self._attrs[off : off + length].decode("utf-8")) if length else {}

    def _set_attrs(self, p: int, rec: np.ndarray, attrs: dict, blob: bytes) -> None:
        rec["attrs_offset"] = len(self._attrs) + self._new_attrs_len if blob else 0
        rec["attrs_length"] = len(blob)
        self._new_attrs.append(blob)
        self._new_attrs_len += len(blob)
        self._edits.attrs[p] = attrs

    def _forget_stats(self, p: int, columns) -> None:
        """Take the current blocks of episode ``p`` in ``columns`` out of the running statistics (raw numeric
        columns; a compressed camera's stay, a bound, until ``kinonb compact``)."""
        row = self._edits.rows.get(p, {})
        for c in columns:
            col = self._columns[c]
            where = row.get(c)
            if where is None and c < self._blocks.shape[1] and self._blocks[p, c]["flags"] & L.BLOCK_PRESENT \
                    and p not in self._edits.replaced:
                where = (int(self._blocks[p, c]["offset"]), int(self._blocks[p, c]["nbytes"]))
            if where is None or col.codec != L.CODEC_RAW or not where[1]:
                continue
            self._flush_stage()  # the block may have been written by this commit
            raw = os.pread(self._fd, int(where[1]), int(where[0]))
            values = np.frombuffer(raw, col.dtype)
            self._stats[c] = S.remove(self._stats[c], column_stats(values))

    def _snapshot(self):
        """A reader of the writer's last commit (kept until the next one)."""
        from .reader import Database

        snap = getattr(self, "_snap", None)
        if snap is None or snap.commit_seq != self._seq:
            snap = self._snap = Database(self.path, commit=self._seq)
        return snap
