"""Read kinodb ``.kdb`` v0.1 files through kinodb's ``Database`` API.

The file is memory-mapped read-only. The header, the index and every entry's (offset, length) pairs are
checked against the file size when the file is opened, before any section is touched; the variable-length
records inside the meta blob and the image section are checked against their own section as they are
parsed. Every failure raises a :class:`~kinonb.errors.FormatError` subclass naming the file, the byte
offset, what was expected and what was found.

Where kinonb deliberately differs from kinodb (7a9b2e4):

- ``is_terminal`` is a bool ndarray (kinodb: a list of bools). ``read_meta`` adds ``state_dim``,
  ``cameras`` (names in frame 0), ``columns`` (always ``[]``) and ``attrs`` (always ``{}``).
- Compressed images are never dropped. PNG payloads are decoded (kinodb drops them). A payload that is
  neither JPEG nor PNG, or fails to decode, raises CorruptFieldError; a missing Pillow raises ImportError
  naming ``kinonb[images]``. JPEG/PNG decode to the stored channel count (kinodb always decodes to RGB and
  then drops cameras whose stored channels are not 3), and Pillow's JPEG pixels may differ from kinodb's
  zune-jpeg by a level or two.
- Cameras must appear in every frame with one shape, and raw payloads must hold exactly H*W*C bytes:
  kinodb stacks only the frames that hold a camera (so its T can shrink) and silently drops a camera whose
  frame sizes differ; kinonb raises CorruptFieldError.
- Stricter checks on open, where kinodb reads on: header num_episodes / num_frames must match the index;
  sections must lie between the header and the index and must not overlap; a low-dim section must be
  exactly ``num_frames * (4 * (S + A) + 5)`` bytes; a success byte other than 0/1/2 or a reward flag
  other than 0/1 is an error (kinodb reads both as None); trailing bytes in an image section are an error.
- Positions must be in ``0 .. len - 1``; anything else raises IndexError (no negative indexing).
- ``meta["cameras"]`` comes from frame 0's camera record heads, so ``read_meta`` parses those few bytes of the
  image section (never pixels); ``read_episode_actions_only`` reads nothing else there.
"""

from __future__ import annotations

import mmap
import operator
import os

import numpy as np

from ..errors import (
    BadMagicError,
    CorruptFieldError,
    InvalidArgumentError,
    OffsetError,
    OverlapError,
    PositionError,
    TruncatedFileError,
    UnknownKeyError,
    UnsupportedVersionError,
)
from ..format import success as success_code
from ..format.schema import FIXED_ROLE_KEYS
from ..format.layout import record
from ..format.totals import check_frame_total
from ..kernels.kdb_index import kdb_index_ok
from ..query import Queryable
from . import kdb_layout as L
from .kdb_images import ImageSection
from .kdb_index_check import check_index
from .kdb_meta import kdb_meta_table


#: Loading the compiled index pass costs ~0.3 s once per process; the numpy checks (kdb_index_check.py) cost
#: ~0.15 ms at 1K episodes, 2.5 ms at 50K and 60-90 ms at 1M, the compiled pass 0.25 ms at 50K and ~5 ms at 1M. So a process checks with numpy until the pass is
#: loaded, except for an index of COMPILED_INDEX_ALWAYS episodes or more, or the second one of
#: COMPILED_INDEX_FROM or more (a process that opens large files again and again).
COMPILED_INDEX_FROM = 50_000
COMPILED_INDEX_ALWAYS = 2_000_000
_large_opens = 0


def _use_compiled_index_pass(n: int) -> bool:
    global _large_opens
    _large_opens += n >= COMPILED_INDEX_FROM
    return bool(kdb_index_ok.signatures) or n >= COMPILED_INDEX_ALWAYS or _large_opens > 1


class KdbDatabase(Queryable):
    """A read-only kinodb ``.kdb`` v0.1 file, with kinodb's ``Database`` methods; implements
    :class:`kinonb.protocol.EpisodeReader` (not ``SampleSource``: its frames are interleaved records)."""

    format_name = "kdb"
    #: A .kdb file has no commits, so nothing after its data is ever ignored.
    ignored_bytes = 0

    def __init__(self, path):
        self._path = os.fspath(path)
        fd = os.open(self._path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            if size < L.HEADER_SIZE:
                raise TruncatedFileError(self._path, 0, f"a {L.HEADER_SIZE}-byte header", f"{size} bytes in file")
            self._mm = np.frombuffer(mmap.mmap(fd, size, access=mmap.ACCESS_READ), np.uint8)
        finally:
            os.close(fd)
        self._size = size
        self._buf = memoryview(self._mm)
        self._header = record(self._buf, L.HEADER_DTYPE)
        self._section = ImageSection(self._buf, self._path)
        self._check_header()
        h = self._header
        self._index = np.frombuffer(
            self._buf, L.INDEX_ENTRY_DTYPE, count=int(h["num_episodes"]), offset=int(h["index_offset"])
        )
        self._check_index()
        self._meta_table = None
        self._metas: dict[int, dict] = {}  # position -> its parsed meta (see _meta)

    def __reduce__(self):
        # A memmap pickles as a full copy of the file; reopen by path instead (safe across DataLoader workers).
        return (type(self), (self._path,))

    # ---- validation -------------------------------------------------------------------------------

    def _check_header(self):
        h, p = self._header, self._path
        if bytes(h["magic"]) != L.MAGIC:
            raise BadMagicError(p, 0, repr(L.MAGIC), repr(bytes(self._buf[:4])), "not a kinodb .kdb file")
        major, minor = int(h["version_major"]), int(h["version_minor"])
        if major > L.VERSION[0]:
            raise UnsupportedVersionError(
                p, 4, f"format major version {L.VERSION[0]}", f"{major}.{minor}", "written by a newer kinodb"
            )
        off, length, n = int(h["index_offset"]), int(h["index_length"]), int(h["num_episodes"])
        if length % L.INDEX_ENTRY_SIZE:
            raise CorruptFieldError(p, 32, "index_length a multiple of 64", length)
        if length // L.INDEX_ENTRY_SIZE != n:
            raise CorruptFieldError(p, 8, f"num_episodes = index_length / 64 = {length // 64}", n)
        if off < L.HEADER_SIZE:
            raise OffsetError(p, 24, f"index_offset >= {L.HEADER_SIZE}", off)
        if off > self._size:
            raise OffsetError(p, 24, f"index_offset <= file size {self._size}", off)
        if off + length > self._size:
            raise TruncatedFileError(
                p, off, f"an index of {length} bytes ending by byte {self._size}", f"it ends at {off + length}",
                "file seems not fully written?",
            )

    def _check_index(self):
        idx, p = self._index, self._path
        if len(idx) == 0:
            self._check_num_frames(np.zeros(0, np.int64))
            return
        if _use_compiled_index_pass(len(idx)):
            words = np.frombuffer(self._buf, "<u8", count=8 * len(idx), offset=int(self._header["index_offset"]))
            ok, total = kdb_index_ok(words.reshape(-1, 8), L.HEADER_SIZE, int(self._header["index_offset"]))
            if ok:
                check_frame_total(self._path, 16, self._header["num_frames"], [total], "header num_frames")
                return
        self._check_num_frames(check_index(p, self._buf, int(self._header["index_offset"]), len(idx)))

    def _check_num_frames(self, frames):
        check_frame_total(self._path, 16, self._header["num_frames"], frames, "header num_frames")

    def _position(self, position) -> int:
        i = operator.index(position)
        if not 0 <= i < len(self._index):
            raise PositionError(f"{self._path}: no episode at position {i} (file has {len(self._index)})")
        return i

    def _entry(self, position):
        i = self._position(position)
        return i, dict(zip(L.INDEX_ENTRY_DTYPE.names, self._index[i : i + 1].tolist()[0]))  # plain ints: one call

    # ---- kinodb Database API ----------------------------------------------------------------------

    def num_episodes(self) -> int:
        return len(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def num_frames(self) -> int:
        return int(self._header["num_frames"])

    def path(self) -> str:
        return self._path

    def version(self) -> str:
        return f"{int(self._header['version_major'])}.{int(self._header['version_minor'])}"

    def summary(self) -> str:
        """kinodb's ``summary()`` text, byte for byte."""
        n, f = len(self), self.num_frames()
        s = f"kinodb v{self.version()}\n  Episodes: {n}\n  Frames: {f}"
        if n:
            s += f"\n  Avg length: {f / n:.1f} frames/episode"
        return s

    def header(self) -> dict:
        """The header fields as Python ints (kinodb's ``KdbReader::header``)."""
        return {k: int(self._header[k]) for k in L.HEADER_DTYPE.names if k not in ("magic", "reserved")}

    def index(self) -> np.ndarray:
        """The index as a read-only structured array of ``INDEX_ENTRY_DTYPE`` (a view of the file)."""
        return self._index

    def buffer(self) -> np.ndarray:
        """The mapped file as read-only uint8; every section the index names lies inside it (checked at open)."""
        return self._mm

    def __repr__(self):
        return f"KdbDatabase({self._path!r}, episodes={len(self)}, frames={self.num_frames()})"

    def read_meta(self, position) -> dict:
        i = self._position(position)
        kept = self._metas.get(i)
        return _meta_dict(kept) if kept is not None else self._meta(*self._entry(i))

    def read_episode_actions_only(self, position) -> dict:
        """Meta and low-dim arrays. No pixel is read: only frame 0's camera record heads, for meta["cameras"]."""
        i, e = self._entry(position)
        out = {"meta": self._meta(i, e)}
        out.update(self._lowdim(i, e))
        return out

    def read_episode(self, position) -> dict:
        i, e = self._entry(position)
        out = {"meta": self._meta(i, e)}
        out.update(self._lowdim(i, e))
        out["images"] = self._section.decode(i, e)
        return out

    def meta_table(self):
        """The metadata as the MetaTable KQL evaluates, built once, with numpy over every meta blob
        (:mod:`kinonb.interop.kdb_meta`; .kdb files carry no attrs)."""
        if self._meta_table is None:
            self._meta_table = kdb_meta_table(
                self._mm, self._index, lambda i: self._meta(i, self._index[i]),
                lambda i: self._section.first_frame_cameras(i, self._index[i]))
        return self._meta_table

    def meta_columns(self) -> dict:
        """Per-episode metadata as numpy columns: the meta table's, with ``task`` / ``embodiment`` as
        ``(ids, strings)``."""
        t = self.meta_table()
        columns = {key: getattr(t, key) for key in ("episode_id", "num_frames", "fps", "success", "total_reward",
                                                    "has_reward", "action_dim", "state_dim")}
        columns["task"] = (t.task_id, list(t.strings))
        columns["embodiment"] = (t.embodiment_id, list(t.strings))
        columns["cameras"] = dict(t.cameras)
        return columns

    # ---- beyond kinodb: the rest of kinonb.protocol.EpisodeReader --------------------------------------

    def schema(self) -> list[dict]:
        """The column schema, from episode 0 (kinodb's layout is fixed; cameras from frame 0's record heads)."""
        if len(self) == 0:
            return []
        i, e = self._entry(0)
        cols = [{"name": name, "role": name, "dtype": dtype, "shape": shape, "codec": "raw"}
                for name, dtype, shape in (("actions", "float32", [int(e["action_dim"])]),
                                           ("states", "float32", [int(e["state_dim"])]),
                                           ("rewards", "float32", []), ("is_terminal", "bool", []))]
        heads = self._section.records(i, e, max_frames=1)
        for r in heads[0] if heads else []:
            cols.append({"name": r.name, "role": "camera", "dtype": "uint8", "shape": [r.height, r.width, r.channels],
                         "codec": "kdb"})
        return cols

    def column_names(self) -> list[str]:
        return [c["name"] for c in self.schema()]

    def camera_names(self) -> list[str]:
        return [c["name"] for c in self.schema() if c["role"] == "camera"]

    def episode_lengths(self, episodes=None) -> np.ndarray:
        lengths = self._index["num_frames"].astype(np.int64)
        return lengths if episodes is None else lengths[episodes]

    def frames(self, position, key: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``[start, stop)`` of ``key`` (a low-dim key or a camera) of one episode; of the image section
        only that camera's pixels are decoded."""
        i, e = self._entry(position)
        if key in FIXED_ROLE_KEYS:
            values = self._lowdim(i, e)[key]
        else:
            images = self._section.decode(i, e, only=key)
            if key not in images:
                raise UnknownKeyError(f"{self._path}: episode {i} has no column {key!r}")
            values = images[key]
        start, stop, _ = slice(start, stop).indices(len(values))
        return values[start:stop]

    def sample_index(self, windows: dict, *, pad: str = "edge", episodes=None, pad_before=None, pad_after=None,
                     pad_dims=None, missing: str = "error", rate=None, max_staleness=None):
        raise InvalidArgumentError(f"{self._path}: windows need a .knb file, this is a kinodb .kdb file; convert it "
                                   f"with `kinonb ingest {self._path} -o OUT.knb` (whole episodes work on .kdb as is)")

    # ---- sections ---------------------------------------------------------------------------------

    def _meta(self, i, e) -> dict:
        """Episode ``i``'s meta, a new dict each call. Its parsed values are kept for the first META_CACHE episodes
        read (a .kdb never changes under its reader): a loop over read_meta then costs a dict, not a parse."""
        kept = self._metas.get(i)
        if kept is not None:
            return _meta_dict(kept)
        meta = self._parse_meta(i, e)
        if len(self._metas) < META_CACHE:
            self._metas[i] = _meta_dict(meta)  # a copy of its own, never handed out
        return meta

    def _parse_meta(self, i, e) -> dict:
        off, end = int(e["meta_offset"]), int(e["meta_offset"]) + int(e["meta_length"])
        pos = off
        strings = []
        for field in ("embodiment", "task"):
            if pos + 2 > end:
                raise CorruptFieldError(self._path, pos, f"u16 {field} length in episode {i}'s meta blob", "its end")
            (n,) = L.U16.unpack_from(self._buf, pos)
            if n > end - pos - 2:
                raise CorruptFieldError(
                    self._path, pos, f"{field} length <= {end - pos - 2} (rest of episode {i}'s meta blob)", n
                )
            strings.append(self._section.utf8(pos + 2, n, field))
            pos += 2 + n
        if pos + 6 > end:
            raise CorruptFieldError(
                self._path, pos, "fps, success and reward flag (6 bytes)", f"{end - pos} bytes left"
            )
        (fps,) = L.F32.unpack_from(self._buf, pos)
        code, flag = self._buf[pos + 4], self._buf[pos + 5]
        if code not in success_code.VALUES:
            raise CorruptFieldError(self._path, pos + 4, "success byte 0, 1 or 2", code)
        if flag not in (0, 1):
            raise CorruptFieldError(self._path, pos + 5, "reward_present byte 0 or 1", flag)
        total_reward = None
        if flag:
            if pos + 10 > end:
                raise CorruptFieldError(self._path, pos + 6, "an f32 total_reward", f"{end - pos - 6} bytes left")
            total_reward = float(L.F32.unpack_from(self._buf, pos + 6)[0])
        return {
            "episode_id": int(e["episode_id"]),
            "embodiment": strings[0],
            "task": strings[1],
            "num_frames": int(e["num_frames"]),
            "fps": float(fps),
            "action_dim": int(e["action_dim"]),
            "success": success_code.decode(code),
            "total_reward": total_reward,
            "state_dim": int(e["state_dim"]),
            "cameras": self._section.first_frame_cameras(i, e),
            "columns": [],
            "attrs": {},
        }

    def _lowdim(self, i, e) -> dict:
        dt = L.lowdim_frame_dtype(int(e["state_dim"]), int(e["action_dim"]))
        rec = np.frombuffer(self._buf, dt, count=int(e["num_frames"]), offset=int(e["actions_offset"]))
        return {
            "actions": np.ascontiguousarray(rec["action"], dtype=np.float32),
            "states": np.ascontiguousarray(rec["state"], dtype=np.float32),
            "rewards": np.ascontiguousarray(rec["reward"], dtype=np.float32),
            "is_terminal": rec["is_terminal"] != 0,
        }


#: Episodes whose parsed meta a reader keeps (about 1 KB each).
META_CACHE = 1 << 16


def _meta_dict(kept: dict) -> dict:
    """A copy of a meta dict whose lists and dicts are the caller's own."""
    meta = kept.copy()
    meta["cameras"], meta["columns"], meta["attrs"] = list(meta["cameras"]), [], {}
    return meta
