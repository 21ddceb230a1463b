"""Appends to the file through a small staging buffer: many small pieces become one ``pwrite``, big ones go
straight to the file. A mixin of :class:`kinonb.store.writer.Writer`, which owns ``_fd``, ``_pos`` (the end of
what is written or staged), ``_stage`` and ``_stage_at`` (the file offset of the stage's first byte)."""

from __future__ import annotations

import os

from ..format import layout as L

#: Staged bytes that are flushed to the file at once; a piece at least this big bypasses the stage.
STAGE_LIMIT = 1 << 20


class StagedAppends:
    def _emit(self, data) -> None:
        self._stage += data
        self._pos += len(data)
        if len(self._stage) >= STAGE_LIMIT:
            self._flush_stage()

    def _flush_stage(self) -> None:
        view = memoryview(self._stage)
        done = 0
        while done < len(view):
            done += os.pwrite(self._fd, view[done:], self._stage_at + done)
        self._stage_at += len(view)
        self._stage = bytearray()

    def _write_block(self, pieces, checksum: bool = True) -> tuple[int, int, int]:
        pad = L.align_up(self._pos) - self._pos
        if pad:
            self._emit(b"\0" * pad)
        start, crc = self._pos, 0
        for p in pieces:
            if len(p) >= STAGE_LIMIT:
                self._flush_stage()
                view, done = memoryview(p), 0
                while done < len(view):
                    done += os.pwrite(self._fd, view[done:], self._pos + done)
                self._pos += len(view)
                self._stage_at = self._pos
            else:
                self._emit(p)
            crc = L.crc32(p, crc) if checksum else 0
        return start, self._pos - start, crc
