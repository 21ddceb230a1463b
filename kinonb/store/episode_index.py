"""The episode index of one commit, checked chunk by chunk before anything reads through it.

A chunk is ``chunk_episodes`` consecutive EPISODE records plus their rows of the BLOCK table, covered by one
CRC-32. The first use of an episode checks its chunk (checksum, enums, string ids, frame counts, and every block
against the data region and its neighbours) with a few vectorised numpy operations; the result is cached. So
open costs O(1) in the number of episodes, and no compiled kernel ever sees an unchecked offset.
"""

from __future__ import annotations

import json

import numpy as np

from ..errors import ChecksumError, CorruptFieldError, OffsetError, OverlapError
from ..format import layout as L
from ..format.footer import Footer, chunk_checksums
from ..format.schema import MAX_ATTRS_DEPTH, attrs_depth, attrs_too_deep


def _no_constant(name: str):
    raise ValueError(f"{name} (format_spec.md section 8 forbids NaN and Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} overflows a float64")
    return value
from ..codecs.registry import block_table


class EpisodeIndex:
    def __init__(self, path, footer: Footer, data_end: int):
        self.path = path
        self.footer = footer
        self.episodes = footer.episodes
        self.blocks = footer.blocks
        self.columns = footer.columns
        self.data_end = data_end  # blocks must end at or before the footer
        self.n = len(self.episodes)
        self.chunk = footer.chunk_episodes
        self._checked = np.zeros(len(footer.chunk_crcs), bool)
        self._all_checked = self.n == 0
        self._attrs_checked = False
        self._lz4_tables: dict[tuple[int, int], np.ndarray] = {}
        self.frame_nbytes = np.array([c.frame_nbytes for c in self.columns], np.uint64)
        self.is_lz4 = np.array([c.codec in (L.CODEC_LZ4_FRAMES, L.CODEC_JPEG) for c in self.columns], bool)
        self.is_video = np.array([c.codec == L.CODEC_VIDEO for c in self.columns], bool)
        self.shapes = footer.block_shapes  # None in a commit without per-block shapes
        self.per_block = np.array([c.per_block for c in self.columns], bool)
        if self.per_block.any() and self.shapes is None:
            c = int(np.flatnonzero(self.per_block)[0])
            raise CorruptFieldError(path, footer.section_offsets.get("columns"), f"a block_shapes section for "
                                    f"column {self.columns[c].name!r} (per-episode shapes or frame counts)", "none")

    # -- checking ------------------------------------------------------------------------------------------
    def ensure(self, position: int) -> None:
        k = position // self.chunk
        if not self._checked[k]:
            self._check_chunk(k)

    def ensure_many(self, positions: np.ndarray) -> None:
        if self._all_checked:
            return
        for k in np.unique(np.asarray(positions, np.int64) // self.chunk):
            if not self._checked[k]:
                self._check_chunk(int(k))
        if self._checked.all():
            self.ensure_all()

    def ensure_all(self) -> None:
        if not self._all_checked:
            for k in np.flatnonzero(~self._checked):
                self._check_chunk(int(k))
            if len(self.columns):
                self._check_disjoint()
            self._all_checked = True
            if self.n:
                last = self.episodes[-1]
                total = int(last["frame_start"]) + int(last["num_frames"])
                if total != self.footer.num_frames:
                    raise CorruptFieldError(self.path, None, f"footer num_frames equal to the episodes' sum {total}",
                                            self.footer.num_frames)

    def _episode_field_offset(self, i: int, field: str) -> int:
        return self.footer.section_offsets["episodes"] + i * L.EPISODE.itemsize + L.EPISODE.fields[field][1]

    def _block_field_offset(self, i: int, c: int, field: str) -> int:
        row = i * len(self.columns) + c
        return self.footer.section_offsets["blocks"] + row * L.BLOCK.itemsize + L.BLOCK.fields[field][1]

    def _check_chunk(self, k: int) -> None:
        a, b = k * self.chunk, min(self.n, (k + 1) * self.chunk)
        path = self.path
        got = int(chunk_checksums(self.episodes, self.blocks, self.chunk, [k], self.shapes)[0])
        want = int(self.footer.chunk_crcs[k])
        if got != want:
            raise ChecksumError(path, self._episode_field_offset(a, "episode_id"),
                                f"CRC-32 {want:#010x} of index chunk {k} (episodes {a}..{b - 1})", f"{got:#010x}")
        eps = self.episodes[a:b]
        nf = eps["num_frames"]

        def first_bad(mask, field, expected):
            if mask.any():
                i = a + int(np.flatnonzero(mask)[0])
                raise CorruptFieldError(path, self._episode_field_offset(i, field), f"EPISODE[{i}].{field} {expected}",
                                        repr(self.episodes[i][field]))

        first_bad((nf == 0) | (nf > L.MAX_FRAMES), "num_frames", f"in 1..{L.MAX_FRAMES}")
        starts = np.empty(b - a, np.uint64)
        starts[0] = 0 if a == 0 else self.episodes[a - 1]["frame_start"] + self.episodes[a - 1]["num_frames"]
        np.cumsum(nf[:-1], out=starts[1:])
        starts[1:] += starts[0]
        first_bad(eps["frame_start"] != starts, "frame_start", "equal to the frames of all earlier episodes")
        fps = eps["fps"]
        first_bad(~np.isfinite(fps) | (fps < 0), "fps", "finite and >= 0")
        first_bad(eps["success"] > 2, "success", "0 (unknown), 1 (false) or 2 (true)")
        first_bad((eps["flags"] & ~np.uint8(L.EPISODE_HAS_REWARD)) != 0, "flags", "only bit 0 (has_reward)")
        nstr = len(self.footer.strings)
        first_bad(eps["task_id"] >= nstr, "task_id", f"< num_strings ({nstr})")
        first_bad(eps["embodiment_id"] >= nstr, "embodiment_id", f"< num_strings ({nstr})")
        heap = np.uint64(len(self.footer.attrs_heap))
        ao, al = eps["attrs_offset"], eps["attrs_length"].astype(np.uint64)
        first_bad((ao > heap) | (al > heap - np.minimum(ao, heap)), "attrs_length", f"attrs within the {heap}-byte heap")
        if len(self.columns):
            self._check_blocks(a, b, nf)
        self._checked[k] = True

    def _check_blocks(self, a: int, b: int, nf: np.ndarray) -> None:
        path = self.path
        blk = self.blocks[a:b]
        off, nbytes, flags = blk["offset"], blk["nbytes"], blk["flags"]
        present = (flags & L.BLOCK_PRESENT) != 0

        def first_bad(mask, field, expected, error=OffsetError):
            if mask.any():
                i, c = np.argwhere(mask)[0]
                i, c = a + int(i), int(c)
                raise error(path, self._block_field_offset(i, c, field),
                                  f"BLOCK[{i}][{self.columns[c].name}].{field} {expected}",
                                  repr(self.blocks[i, c][field]))

        first_bad((flags & ~np.uint32(L.BLOCK_PRESENT)) != 0, "flags", "only bit 0 (present)", CorruptFieldError)
        first_bad(~present & ((off != 0) | (nbytes != 0) | (blk["crc32"] != 0)), "offset", "0 for an absent block",
                  CorruptFieldError)
        end = np.uint64(self.data_end)
        first_bad(present & ((off % L.ALIGNMENT != 0) | (off < L.HEADER.itemsize) | (off > end)), "offset",
                  f"64-aligned, in [{L.HEADER.itemsize}, {self.data_end}]")
        first_bad(present & (nbytes > end - np.minimum(off, end)), "nbytes",
                  f"a block ending at or before the footer ({self.data_end})")
        fnb = self.frame_nbytes[None, :]
        nf2 = nf[:, None]
        if self.per_block.any():
            nf2, fnb = self._check_block_shapes(a, b, nf, present)
        with np.errstate(divide="ignore", invalid="ignore"):
            raw_ok = np.where(fnb == 0, nbytes == 0, (nbytes % np.maximum(fnb, 1) == 0) & (nbytes // np.maximum(fnb, 1) == nf2))
        lz4_ok = nbytes // np.uint64(8) >= nf2 + np.uint64(1)
        index = np.uint64(L.VIDEO_PACKET.itemsize)
        video_ok = (nbytes >= np.uint64(L.VIDEO_HEADER.itemsize)) & (
            (nbytes - np.uint64(L.VIDEO_HEADER.itemsize)) // index >= nf2)
        size_ok = np.where(self.is_lz4[None, :], lz4_ok, np.where(self.is_video[None, :], video_ok, raw_ok))
        first_bad(present & ~size_ok, "nbytes", "num_frames x frame_nbytes (raw), room for the lz4/jpeg frame "
                  "table, or for the video header and packet table", CorruptFieldError)
        if self.footer.minor >= 2:
            return  # an edit commit's blocks need not be in index order; _check_disjoint checks them all at once
        # Blocks are laid out in index order: each present block starts at or after the end of the one before.
        rows = blk if a == 0 else self.blocks[a - 1 : b]
        rp = ((rows["flags"] & L.BLOCK_PRESENT) != 0).reshape(-1)
        o = rows["offset"].reshape(-1)[rp]
        e = o + rows["nbytes"].reshape(-1)[rp]
        if len(o) > 1 and bool(np.any(o[1:] < e[:-1])):
            j = int(np.flatnonzero(o[1:] < e[:-1])[0]) + 1
            flat_index = np.flatnonzero(rp)[j] + (a if a == 0 else a - 1) * len(self.columns)
            i, c = divmod(int(flat_index), len(self.columns))
            raise OverlapError(path, self._block_field_offset(i, c, "offset"),
                               f"BLOCK[{i}][{self.columns[c].name}] to start at or after the previous block's end "
                               f"{int(e[j - 1])}", int(o[j]))

    def _check_block_shapes(self, a: int, b: int, nf: np.ndarray, present: np.ndarray):
        """Check the chunk's block_shapes rows of per-block columns; return (frames, frame_nbytes) per block."""
        rows = self.shapes[a:b]
        frames = np.where(self.per_block[None, :], rows["num_frames"], nf[:, None])
        fnb = np.broadcast_to(self.frame_nbytes[None, :], frames.shape).copy()
        for c in np.flatnonzero(self.per_block):
            col = self.columns[c]
            shape = rows["shape"][:, c]
            got = present[:, c]
            ndim = len(col.shape)
            bad = ~got & ((rows["num_frames"][:, c] != 0) | shape.any(axis=1))
            bad |= got & shape[:, ndim:].any(axis=1)
            if not col.own_frames:
                bad |= got & (frames[:, c] != nf)
            if not col.variable_shape:
                bad |= got & (shape[:, :ndim] != np.array(col.shape, np.uint64)).any(axis=1)
            bad |= frames[:, c] > L.MAX_FRAMES
            nbytes = np.full(len(shape), col.dtype.itemsize, np.float64)
            elements = np.ones(len(shape), np.float64)  # of the non-zero dims: frame_dims_problem's rule
            for d in range(ndim):
                dim = shape[:, d].astype(np.float64)
                nbytes *= dim
                elements *= np.maximum(dim, 1)
                bad |= got & (shape[:, d] > L.MAX_FRAME_NBYTES)
            bad |= got & ((nbytes > L.MAX_FRAME_NBYTES) | (elements > L.MAX_FRAME_NBYTES))
            if col.role == L.ROLE_CAMERA:
                bad |= got & ((shape[:, 0] == 0) | (shape[:, 1] == 0) | (shape[:, 2] == 0) | (shape[:, 2] > 4))
            if col.codec in (L.CODEC_JPEG, L.CODEC_VIDEO):
                bad |= got & ~np.isin(shape[:, 2], L.CODEC_CHANNELS)
            if bad.any():
                i = a + int(np.flatnonzero(bad)[0])
                row = i * len(self.columns) + c
                raise CorruptFieldError(self.path, self.footer.section_offsets["block_shapes"] + row *
                                        L.BLOCK_SHAPE.itemsize, f"BLOCK_SHAPE[{i}][{col.name}]: zeros for an absent "
                                        f"block, else a frame count and shape the column allows",
                                        repr(self.shapes[i, c]))
            exact = np.full(len(shape), col.dtype.itemsize, np.uint64)
            for d in range(ndim):
                exact *= shape[:, d]
            fnb[:, c] = np.where(got, exact, 0)
        return frames, fnb

    def block_frames(self, position: int, c: int) -> int:
        """Frames of column ``c`` in episode ``position`` (its own count for per-block columns)."""
        if self.per_block[c]:
            return int(self.shapes[position, c]["num_frames"])
        return int(self.episodes[position]["num_frames"])

    def block_shape(self, position: int, c: int) -> tuple[int, ...]:
        """Per-frame shape of column ``c`` in episode ``position``."""
        col = self.columns[c]
        if col.variable_shape:
            return tuple(int(d) for d in self.shapes[position, c]["shape"][: len(col.shape)])
        return col.shape

    def _check_disjoint(self) -> None:
        """Every present block of the file, in file order, starts at or after the end of the one before (the
        per-chunk check sees one chunk and the row before it: absent rows or forged chunk sizes can hide an
        overlap between chunks)."""
        flat = self.blocks.reshape(-1)
        rows = np.flatnonzero((flat["flags"] & L.BLOCK_PRESENT) != 0)
        off = flat["offset"][rows]
        end = off + flat["nbytes"][rows]
        order = np.lexsort((end, off))  # an empty block sorts before a block that starts where it lies
        o, e = off[order], end[order]
        bad = np.flatnonzero(o[1:] < e[:-1])
        if len(bad):
            j = int(bad[0]) + 1
            i, c = divmod(int(rows[order[j]]), len(self.columns))
            raise OverlapError(self.path, self._block_field_offset(i, c, "offset"),
                               f"BLOCK[{i}][{self.columns[c].name}] to start at or after the end {int(e[j - 1])} of "
                               f"every block before it in the file", int(o[j]))

    def lz4_table(self, buf: np.ndarray, position: int, c: int):
        """The checked table of a compressed camera block (cached): lz4 and jpeg, the per-frame offsets (<u8,
        T+1, relative to the block); video, a ``VideoTable`` (§7.2 to §7.4)."""
        key = (position, c)
        table = self._lz4_tables.get(key)
        if table is None:
            self.ensure(position)
            blk = self.blocks[position, c]
            off, nbytes = int(blk["offset"]), int(blk["nbytes"])
            table, problem = block_table(self.columns[c].codec, buf, off, nbytes, self.block_frames(position, c),
                                         self.block_shape(position, c))
            if problem:
                at, expected, found = problem
                raise CorruptFieldError(self.path, off + at, f"{expected} (episode {position} camera "
                                        f"{self.columns[c].name!r})", found)
            self._lz4_tables[key] = table
        return table

    # -- attrs ---------------------------------------------------------------------------------------------
    def attrs_heap(self) -> np.ndarray:
        """The attrs heap, its CRC checked on first use."""
        heap = self.footer.attrs_heap
        if not self._attrs_checked:
            got = L.crc32(heap)
            if got != self.footer.attrs_crc32:
                raise ChecksumError(self.path, self.footer.section_offsets["attrs_heap"],
                                    f"attrs heap CRC-32 {self.footer.attrs_crc32:#010x}", f"{got:#010x}")
            self._attrs_checked = True
        return heap

    def attrs(self, position: int) -> dict:
        self.ensure(position)
        heap = self.attrs_heap()
        rec = self.episodes[position]
        off, length = int(rec["attrs_offset"]), int(rec["attrs_length"])
        if length == 0:
            return {}
        blob = heap[off : off + length].tobytes()
        at = self.footer.section_offsets["attrs_heap"] + off
        if attrs_too_deep(blob):
            raise CorruptFieldError(self.path, at, f"episode {position}'s attrs nested at most {MAX_ATTRS_DEPTH} "
                                    "deep", f"depth {attrs_depth(blob)}")
        try:
            value = json.loads(blob.decode("utf-8"), parse_constant=_no_constant, parse_float=_finite_float)
        except (UnicodeDecodeError, ValueError) as e:
            raise CorruptFieldError(self.path, at, f"a JSON object for episode {position}'s attrs (no NaN or "
                                    "Infinity)", str(e)) from None
        if not isinstance(value, dict):
            raise CorruptFieldError(self.path, self.footer.section_offsets["attrs_heap"] + off,
                                    f"a JSON object for episode {position}'s attrs", type(value).__name__)
        return value
