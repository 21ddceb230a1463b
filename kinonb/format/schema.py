"""Column schema: what each column of a file holds (name, role, dtype, per-frame shape, codec)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CorruptFieldError, UnsupportedVersionError
from . import layout as L

_F16, _F32, _F64, _I64 = np.dtype("<f2"), np.dtype("<f4"), np.dtype("<f8"), np.dtype("<i8")
#: The dtypes a role's column may have, the default first (ints and bools convert to it when lossless).
#: Roles not listed (extra, stream, episode_array) take any allowed dtype, kept as given.
ROLE_DTYPE_CHOICES = {
    L.ROLE_ACTIONS: (_F32, _F16, _F64),
    L.ROLE_STATES: (_F32, _F16, _F64),
    L.ROLE_REWARDS: (_F32, _F16, _F64),
    L.ROLE_IS_TERMINAL: (np.dtype("|b1"),),
    L.ROLE_CAMERA: (np.dtype("|u1"),),
    L.ROLE_TIMESTAMPS: (_F64, _I64),
    L.ROLE_STREAM_TIMESTAMPS: (_F64, _I64),
}
#: The default dtype of each role that has one (what a 1.0 file holds for the fixed roles).
ROLE_DTYPES = {role: choices[0] for role, choices in ROLE_DTYPE_CHOICES.items()}
#: Per-frame ndim each role must have (roles not listed: any up to MAX_NDIM).
ROLE_NDIM = {L.ROLE_ACTIONS: 1, L.ROLE_STATES: 1, L.ROLE_REWARDS: 0, L.ROLE_IS_TERMINAL: 0, L.ROLE_CAMERA: 3,
             L.ROLE_TIMESTAMPS: 0, L.ROLE_STREAM_TIMESTAMPS: 0}
#: The COLUMN.flags bits each role may carry; ``ROLE_REQUIRED_FLAGS`` those it must.
ROLE_FLAGS = {
    L.ROLE_ACTIONS: L.COLUMN_VARIABLE_SHAPE | L.COLUMN_CAST,
    L.ROLE_STATES: L.COLUMN_FLAGS,
    L.ROLE_REWARDS: L.COLUMN_CAST,
    L.ROLE_IS_TERMINAL: 0,
    L.ROLE_CAMERA: L.COLUMN_VARIABLE_SHAPE,
    L.ROLE_EXTRA: L.COLUMN_FLAGS,
    L.ROLE_TIMESTAMPS: 0,
    L.ROLE_STREAM: L.COLUMN_FLAGS,
    L.ROLE_STREAM_TIMESTAMPS: L.COLUMN_OWN_FRAMES,
    L.ROLE_EPISODE_ARRAY: L.COLUMN_FLAGS,
}
ROLE_REQUIRED_FLAGS = {L.ROLE_STREAM: L.COLUMN_OWN_FRAMES, L.ROLE_STREAM_TIMESTAMPS: L.COLUMN_OWN_FRAMES,
                       L.ROLE_EPISODE_ARRAY: L.COLUMN_OWN_FRAMES}
#: The roles stored under one fixed name, and that name (which is also their read_episode key).
FIXED_ROLE_NAMES = {role: L.ROLE_NAMES[role] for role in (L.ROLE_ACTIONS, L.ROLE_STATES, L.ROLE_REWARDS,
                                                          L.ROLE_IS_TERMINAL)}
NAMED_ROLES = {**FIXED_ROLE_NAMES, L.ROLE_TIMESTAMPS: "timestamps"}
#: The read_episode keys of the fixed roles, in role order.
FIXED_ROLE_KEYS = tuple(FIXED_ROLE_NAMES.values())
#: A stream's times are the column named ``stream + STREAM_TIMES_SUFFIX``.
STREAM_TIMES_SUFFIX = ".timestamps"
#: Names no camera, extra column, stream or episode array may take: the fixed roles, read_episode's own keys
#: (1.1 adds timestamps, streams, episode_arrays) and the keys SampleIndex.read and the torch layer put beside the
#: columns in a batch.
RESERVED_NAMES = (*FIXED_ROLE_KEYS, "images", "meta", "timestamps", "streams", "episode_arrays",
                  "frame", "episode", "episode_id", "task", "source", "time")
#: Endings no such name may have: batch keys made from a column's name, and stream clocks.
RESERVED_SUFFIXES = ("_is_pad", "_dim_mask", STREAM_TIMES_SUFFIX)
#: The roles whose columns are named by the caller (and so must avoid the reserved names).
FREE_NAME_ROLES = (L.ROLE_CAMERA, L.ROLE_EXTRA, L.ROLE_STREAM, L.ROLE_EPISODE_ARRAY)
#: Longest column or camera name, in utf-8 bytes.
MAX_NAME_BYTES = 1024
#: Deepest nesting of arrays and objects in an episode's attrs (the writer refuses deeper, the reader too).
MAX_ATTRS_DEPTH = 64


def is_reserved_name(name: str) -> bool:
    """True when no camera or extra column may be called ``name`` (see RESERVED_NAMES, RESERVED_SUFFIXES)."""
    return name in RESERVED_NAMES or name.endswith(RESERVED_SUFFIXES)


def frame_dims_problem(shape) -> str | None:
    """Why a per-frame shape is not allowed, or None: each dim and the element count of a frame are at most
    MAX_FRAME_NBYTES, so a zero-width frame (a 0 dim) cannot hide a dim numpy refuses to allocate."""
    count = 1
    for d in shape:
        if d > L.MAX_FRAME_NBYTES:
            return f"every dim at most {L.MAX_FRAME_NBYTES}"
        count *= d if d else 1
    if count > L.MAX_FRAME_NBYTES:
        return f"the product of the non-zero dims at most {L.MAX_FRAME_NBYTES}"
    return None


def attrs_too_deep(blob: bytes) -> bool:
    """True when JSON text nests arrays and objects deeper than MAX_ATTRS_DEPTH (counting brackets first, so
    ordinary attrs cost two ``bytes.count`` calls)."""
    if blob.count(b"[") + blob.count(b"{") <= MAX_ATTRS_DEPTH:
        return False
    return attrs_depth(blob) > MAX_ATTRS_DEPTH


def attrs_depth(blob: bytes) -> int:
    """Deepest nesting of ``[``/``{`` in JSON text, found by one linear scan that skips strings (so the depth is
    known before a recursive parser could exhaust the stack)."""
    depth = deepest = 0
    in_string = escaped = False
    for b in blob:
        if in_string:
            if escaped:
                escaped = False
            elif b == 0x5C:  # backslash
                escaped = True
            elif b == 0x22:  # quote
                in_string = False
        elif b == 0x22:
            in_string = True
        elif b in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif b in (0x5D, 0x7D):
            depth -= 1
    return deepest


def stream_times_name(stream: str) -> str:
    return stream + STREAM_TIMES_SUFFIX


def storable_dtype(dt) -> np.dtype | None:
    """The little-endian dtype an extra column of dtype ``dt`` is stored as, or None when none is allowed."""
    dt = np.dtype(dt)
    le = dt.newbyteorder("<") if dt.byteorder == ">" else dt
    return le if le.str.encode() in L.ALLOWED_DTYPES else None


@dataclass(frozen=True)
class Column:
    name: str
    role: int
    dtype: np.dtype
    shape: tuple[int, ...]  # for a COLUMN_VARIABLE_SHAPE column: the shape of its first block
    codec: int = L.CODEC_RAW
    flags: int = 0
    source_dtype: np.dtype | None = None  # set with COLUMN_CAST: the dtype before a lossy cast

    @property
    def variable_shape(self) -> bool:
        return bool(self.flags & L.COLUMN_VARIABLE_SHAPE)

    @property
    def own_frames(self) -> bool:
        return bool(self.flags & L.COLUMN_OWN_FRAMES)

    @property
    def per_block(self) -> bool:
        """Whether each block's frame count and shape must be read from block_shapes."""
        return bool(self.flags & (L.COLUMN_VARIABLE_SHAPE | L.COLUMN_OWN_FRAMES))

    @property
    def needs_1_1(self) -> bool:
        """Whether this column uses a format 1.1 feature (a 1.0 reader would refuse it)."""
        return (self.role >= L.ROLES_1_0 or self.flags != 0 or self.codec >= L.CODECS_1_0
                or self.dtype != ROLE_DTYPES.get(self.role, self.dtype))

    @property
    def frame_nbytes(self) -> int:
        n = self.dtype.itemsize
        for d in self.shape:
            n *= d
        return n

    @property
    def is_camera(self) -> bool:
        return self.role == L.ROLE_CAMERA

    def to_record(self, name_id: int) -> np.ndarray:
        rec = np.zeros((), L.COLUMN)
        rec["name_id"] = name_id
        rec["role"] = self.role
        rec["codec"] = self.codec
        rec["ndim"] = len(self.shape)
        rec["flags"] = self.flags
        rec["dtype"] = self.dtype.str.encode()
        rec["shape"][: len(self.shape)] = self.shape
        rec["frame_nbytes"] = self.frame_nbytes
        if self.source_dtype is not None:
            rec["source_dtype"] = self.source_dtype.str.encode()
        return rec

    def describe(self) -> dict:
        d = {
            "name": self.name,
            "role": L.ROLE_NAMES[self.role],
            "dtype": self.dtype.name,
            "shape": list(self.shape),
            "codec": L.CODEC_NAMES[self.codec],
        }
        if self.variable_shape:
            d["shape_varies"] = True
        if self.own_frames:
            d["own_frames"] = True
        if self.source_dtype is not None:
            d["cast_from"] = self.source_dtype.name
        return d


def columns_from_records(records: np.ndarray, strings: list[str], path, base_offset: int,
                         minor: int = L.FORMAT_MINOR) -> list[Column]:
    """Decode and check COLUMN records; ``base_offset`` is the file offset of the first record, ``minor`` the
    minor version the commit declares (a value this reader does not know in a newer commit's column is an
    UnsupportedVersionError, in a commit of a known version a CorruptFieldError)."""
    columns: list[Column] = []
    seen_names: set[str] = set()
    seen_roles: set[int] = set()
    for i, values in enumerate(records.tolist()):  # plain values: a numpy field read per value costs ~1 us
        rec = dict(zip(L.COLUMN.names, values))
        column = _column_from_record(i, rec, strings, path, base_offset + i * L.COLUMN.itemsize, minor)
        if column.name in seen_names:
            raise _bad(path, base_offset, i, "name_id", "a unique non-empty column name", column.name)
        if column.role in NAMED_ROLES and column.role in seen_roles:
            raise _bad(path, base_offset, i, "role", "at most one column per fixed role", L.ROLE_NAMES[column.role])
        seen_names.add(column.name)
        seen_roles.add(column.role)
        columns.append(column)
    return columns


def _bad(path, base_offset, i, field, expected, found, minor=None):
    off = base_offset + i * L.COLUMN.itemsize + L.COLUMN.fields[field][1]
    if minor is not None and minor > L.FORMAT_MINOR:
        return UnsupportedVersionError(path, off, f"COLUMN[{i}].{field} {expected} (format "
                                       f"{L.FORMAT_MAJOR}.{L.FORMAT_MINOR})", f"{found!r} in a {L.FORMAT_MAJOR}."
                                       f"{minor} commit", "written by a newer kinonb: upgrade kinonb to read it")
    return CorruptFieldError(path, off, f"COLUMN[{i}].{field} {expected}", repr(found))


def _column_from_record(i, rec, strings, path, at, minor) -> Column:
    def bad(field, expected, found, newer=False):
        return _bad(path, at - i * L.COLUMN.itemsize, i, field, expected, found, minor if newer else None)

    name_id = int(rec["name_id"])
    if name_id >= len(strings):
        raise bad("name_id", f"< num_strings ({len(strings)})", name_id)
    name = strings[name_id]
    if not name:
        raise bad("name_id", "a unique non-empty column name", name)
    role = int(rec["role"])
    if role >= len(L.ROLE_NAMES):
        raise bad("role", f"< {len(L.ROLE_NAMES)}", role, newer=True)
    if role in FREE_NAME_ROLES and is_reserved_name(name):
        raise bad("name_id", "a name kinonb does not reserve (format_spec.md §6, reserved names)", name)
    if role in NAMED_ROLES and name != NAMED_ROLES[role]:
        raise bad("name_id", f"name {NAMED_ROLES[role]!r} for that role", name)
    if role == L.ROLE_STREAM_TIMESTAMPS and not name.endswith(STREAM_TIMES_SUFFIX):
        raise bad("name_id", f"a name ending in {STREAM_TIMES_SUFFIX!r} for stream timestamps", name)
    flags = int(rec["flags"])
    if flags & ~ROLE_FLAGS[role] or (flags & ROLE_REQUIRED_FLAGS.get(role, 0)) != ROLE_REQUIRED_FLAGS.get(role, 0):
        raise bad("flags", f"a subset of {ROLE_FLAGS[role]:#x} including {ROLE_REQUIRED_FLAGS.get(role, 0):#x} for "
                  f"role {L.ROLE_NAMES[role]}", flags, newer=bool(flags & ~L.COLUMN_FLAGS))
    codec = int(rec["codec"])
    if codec >= len(L.CODEC_NAMES) or (codec != L.CODEC_RAW and role != L.ROLE_CAMERA):
        raise bad("codec", "0 (raw), or 1 (lz4), 2 (jpeg), 3 (video) for a camera", codec,
                  newer=codec >= len(L.CODEC_NAMES))
    dtype = _record_dtype(rec["dtype"], "dtype", bad)
    if role in ROLE_DTYPE_CHOICES and dtype not in ROLE_DTYPE_CHOICES[role]:
        raise bad("dtype", f"one of {[d.str for d in ROLE_DTYPE_CHOICES[role]]} for role {L.ROLE_NAMES[role]}",
                  dtype.str)
    source = None
    if flags & L.COLUMN_CAST:
        source = _record_dtype(rec["source_dtype"], "source_dtype", bad)
    elif bytes(rec["source_dtype"]).strip(b"\0"):
        raise bad("source_dtype", "zeros without the cast flag", bytes(rec["source_dtype"]))
    ndim = int(rec["ndim"])
    if ndim > L.MAX_NDIM or (role in ROLE_NDIM and ndim != ROLE_NDIM[role]):
        raise bad("ndim", f"{ROLE_NDIM.get(role, f'<= {L.MAX_NDIM}')} for role {L.ROLE_NAMES[role]}", ndim)
    shape_field = rec["shape"].tolist()
    if any(shape_field[ndim:]):
        raise bad("shape", "zeros past ndim", shape_field)
    shape = tuple(shape_field[:ndim])
    problem = frame_shape_problem(role, shape, dtype, codec)
    if problem:
        raise bad("shape", problem, shape)
    column = Column(name, role, dtype, shape, codec, flags, source)
    if int(rec["frame_nbytes"]) != column.frame_nbytes:
        raise bad("frame_nbytes", f"{column.frame_nbytes} (itemsize x shape)", int(rec["frame_nbytes"]))
    return column


def _record_dtype(raw, field, bad) -> np.dtype:
    raw = bytes(raw).rstrip(b"\0")
    if raw not in L.ALLOWED_DTYPES:
        raise bad(field, f"one of {[d.decode() for d in L.ALLOWED_DTYPES]}", raw)
    return np.dtype(raw.decode())


def frame_shape_problem(role: int, shape: tuple[int, ...], dtype: np.dtype,
                        codec: int = L.CODEC_RAW) -> str | None:
    """What is wrong with a per-frame ``shape`` of a ``role`` column (None when nothing): the one rule the
    COLUMN check, the block_shapes check and the writer share."""
    if role == L.ROLE_CAMERA and (len(shape) != 3 or 0 in shape or shape[2] > 4):
        return "a camera frame (H>0, W>0, 1<=C<=4)"
    dims = frame_dims_problem(shape)
    if dims:
        return dims
    if codec in (L.CODEC_JPEG, L.CODEC_VIDEO) and shape[2] not in L.CODEC_CHANNELS:
        return f"1 or 3 channels for a {L.CODEC_NAMES[codec]} camera"
    nbytes = dtype.itemsize
    for d in shape:
        nbytes *= d
    if nbytes > L.MAX_FRAME_NBYTES:  # Python ints: no overflow
        return f"a frame of at most {L.MAX_FRAME_NBYTES} bytes"
    return None
