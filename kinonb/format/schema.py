"""Column schema: what each column of a file holds (name, role, dtype, per-frame shape, codec)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CorruptFieldError
from . import layout as L

#: The dtype each fixed role is stored as; extra columns keep the caller's dtype.
ROLE_DTYPES = {
    L.ROLE_ACTIONS: np.dtype("<f4"),
    L.ROLE_STATES: np.dtype("<f4"),
    L.ROLE_REWARDS: np.dtype("<f4"),
    L.ROLE_IS_TERMINAL: np.dtype("|b1"),
    L.ROLE_CAMERA: np.dtype("|u1"),
}
#: Per-frame ndim each fixed role must have (extra columns: any up to MAX_NDIM).
ROLE_NDIM = {L.ROLE_ACTIONS: 1, L.ROLE_STATES: 1, L.ROLE_REWARDS: 0, L.ROLE_IS_TERMINAL: 0, L.ROLE_CAMERA: 3}
#: The fixed roles and the one name each is stored and read under.
FIXED_ROLE_NAMES = {role: L.ROLE_NAMES[role] for role in (L.ROLE_ACTIONS, L.ROLE_STATES, L.ROLE_REWARDS,
                                                          L.ROLE_IS_TERMINAL)}
#: The read_episode keys of the fixed roles, in role order.
FIXED_ROLE_KEYS = tuple(FIXED_ROLE_NAMES.values())
#: Names no camera or extra column may take: the fixed roles, read_episode's own keys (1.1 adds timestamps, streams,
#: episode_arrays) and the keys SampleIndex.read and the torch layer put beside the columns in a batch.
RESERVED_NAMES = (*FIXED_ROLE_KEYS, "images", "meta", "timestamps", "streams", "episode_arrays",
                  "frame", "episode", "episode_id", "task", "source")
#: Endings no camera or extra column name may have: batch keys made from a column's name, and stream clocks.
RESERVED_SUFFIXES = ("_is_pad", "_dim_mask", ".timestamps")
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
    shape: tuple[int, ...]
    codec: int = L.CODEC_RAW

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
        rec["dtype"] = self.dtype.str.encode()
        rec["shape"][: len(self.shape)] = self.shape
        rec["frame_nbytes"] = self.frame_nbytes
        return rec

    def describe(self) -> dict:
        return {
            "name": self.name,
            "role": L.ROLE_NAMES[self.role],
            "dtype": self.dtype.name,
            "shape": list(self.shape),
            "codec": L.CODEC_NAMES[self.codec],
        }


def columns_from_records(records: np.ndarray, strings: list[str], path, base_offset: int) -> list[Column]:
    """Decode and check COLUMN records; ``base_offset`` is the file offset of the first record."""
    columns: list[Column] = []
    seen_names: set[str] = set()
    seen_roles: set[int] = set()
    for i, rec in enumerate(records):
        at = base_offset + i * L.COLUMN.itemsize

        def bad(field, expected, found):
            off = at + L.COLUMN.fields[field][1]
            return CorruptFieldError(path, off, f"COLUMN[{i}].{field} {expected}", repr(found))

        name_id = int(rec["name_id"])
        if name_id >= len(strings):
            raise bad("name_id", f"< num_strings ({len(strings)})", name_id)
        name = strings[name_id]
        if not name or name in seen_names:
            raise bad("name_id", "a unique non-empty column name", name)
        role = int(rec["role"])
        if role >= len(L.ROLE_NAMES):
            raise bad("role", f"< {len(L.ROLE_NAMES)}", role)
        if role != L.ROLE_CAMERA and role != L.ROLE_EXTRA:
            if role in seen_roles:
                raise bad("role", "at most one column per fixed role", L.ROLE_NAMES[role])
            if name != FIXED_ROLE_NAMES[role]:
                raise bad("name_id", f"name {FIXED_ROLE_NAMES[role]!r} for that role", name)
        seen_roles.add(role)
        codec = int(rec["codec"])
        if codec >= len(L.CODEC_NAMES) or (codec == L.CODEC_LZ4_FRAMES and role != L.ROLE_CAMERA):
            raise bad("codec", "0 (raw), or 1 (lz4) for a camera", codec)
        raw_dtype = bytes(rec["dtype"]).rstrip(b"\0")
        if raw_dtype not in L.ALLOWED_DTYPES:
            raise bad("dtype", f"one of {[d.decode() for d in L.ALLOWED_DTYPES]}", raw_dtype)
        dtype = np.dtype(raw_dtype.decode())
        if role in ROLE_DTYPES and dtype != ROLE_DTYPES[role]:
            raise bad("dtype", f"{ROLE_DTYPES[role].str} for role {L.ROLE_NAMES[role]}", raw_dtype)
        ndim = int(rec["ndim"])
        if ndim > L.MAX_NDIM or (role in ROLE_NDIM and ndim != ROLE_NDIM[role]):
            raise bad("ndim", f"{ROLE_NDIM.get(role, f'<= {L.MAX_NDIM}')} for role {L.ROLE_NAMES[role]}", ndim)
        shape_field = [int(x) for x in rec["shape"]]
        if any(shape_field[ndim:]):
            raise bad("shape", "zeros past ndim", shape_field)
        shape = tuple(shape_field[:ndim])
        if role == L.ROLE_CAMERA and (0 in shape or shape[2] > 4):
            raise bad("shape", "a camera frame (H>0, W>0, 1<=C<=4)", shape)
        if role in (L.ROLE_CAMERA, L.ROLE_EXTRA) and is_reserved_name(name):
            raise bad("name_id", "a camera or column name kinonb does not reserve (format_spec.md, COLUMN)", name)
        dims_problem = frame_dims_problem(shape)
        if dims_problem:
            raise bad("shape", dims_problem, shape)
        column = Column(name, role, dtype, shape, codec)
        if column.frame_nbytes > L.MAX_FRAME_NBYTES:  # Python ints: no overflow
            raise bad("shape", f"a frame of at most {L.MAX_FRAME_NBYTES} bytes", shape)
        if int(rec["frame_nbytes"]) != column.frame_nbytes:
            raise bad("frame_nbytes", f"{column.frame_nbytes} (itemsize x shape)", int(rec["frame_nbytes"]))
        seen_names.add(name)
        columns.append(column)
    return columns
