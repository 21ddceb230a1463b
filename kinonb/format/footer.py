"""The footer of a commit: schema, string table, episode index, block table, attrs, stats, checksums.

``encode_footer`` turns a :class:`Footer` into bytes; ``decode_footer`` maps one back as zero-copy views of the
file, checking every count, offset and length against the footer's own bounds. The episode and block tables
are only bounds-checked here; their contents are checked chunk by chunk on first use (``episode_index.py``),
so opening a file costs the same for 1K or 1M episodes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from ..errors import (
    BadMagicError,
    ChecksumError,
    CorruptFieldError,
    OffsetError,
    OverlapError,
)
from . import layout as L
from .schema import Column, columns_from_records

FOOTER_PREFIX = L.FOOTER_HEADER.itemsize + L.SECTION.itemsize * len(L.SECTION_NAMES)


def prefix_length(raw_header: bytes) -> int | None:
    """Length of the footer header + section table announced by a 64-byte footer header (None if implausible).

    A newer minor version may append section records after the known ones; the trailer's CRC covers them all.
    """
    num_sections = L.record(raw_header, L.FOOTER_HEADER)["num_sections"]
    if not len(L.SECTION_NAMES) <= num_sections <= L.MAX_SECTIONS:
        return None
    return L.FOOTER_HEADER.itemsize + L.SECTION.itemsize * num_sections


@dataclass
class Footer:
    columns: list[Column]
    strings: list[str]
    episodes: np.ndarray  # EPISODE, (N,)
    blocks: np.ndarray  # BLOCK, (N, C)
    attrs_heap: np.ndarray  # uint8
    stats: np.ndarray  # STAT, (C,)
    num_frames: int
    chunk_episodes: int = L.CHUNK_EPISODES
    chunk_crcs: np.ndarray = field(default=None)  # <u4, one per chunk of chunk_episodes episodes
    section_offsets: dict = field(default_factory=dict)  # absolute file offset of each section (reader side)
    attrs_crc32: int = 0  # checked on first use of attrs, not at open
    block_shapes: np.ndarray | None = None  # BLOCK_SHAPE, (N, C): 1.1 commits with per-block shapes only
    minor: int = 0  # the minor version this commit needs (the reader: the one its trailer declares)
    commit_info: bytes | None = None  # 1.2 edit commits: the commit_info JSON (kinonb.format.commit_info)


def section_names(num_sections: int, minor: int) -> tuple[str, ...]:
    """The sections this reader knows in a footer of ``num_sections`` sections from a ``minor`` commit."""
    if minor >= 2 and num_sections >= len(L.SECTION_NAMES_1_2):
        return L.SECTION_NAMES_1_2
    if minor >= 1 and num_sections > len(L.SECTION_NAMES):
        return L.SECTION_NAMES_1_1
    return L.SECTION_NAMES


def commit_minor(columns: list[Column], blocks: np.ndarray, block_shapes) -> int:
    """The minor version an append commit's footer needs: 2 while an earlier edit left blocks out of index order,
    1 when it uses any 1.1 feature, else 0 (its bytes are then exactly a 1.0 writer's). An edit commit is 2."""
    if not blocks_in_order(blocks):
        return 2
    if block_shapes is not None or any(col.needs_1_1 for col in columns):
        return 1
    actions = [i for i, col in enumerate(columns) if col.role == L.ROLE_ACTIONS]
    if len(blocks) and (not actions or not (blocks[:, actions[0]]["flags"] & L.BLOCK_PRESENT).all()):
        return 1  # 1.0 requires an actions block in every episode
    return 0


def blocks_in_order(blocks: np.ndarray) -> bool:
    """Whether the present blocks, in (episode, column) order, each start at or after the end of the one before
    (what a commit of minor < 2 must hold, format_spec.md §3 BLOCK)."""
    flat = blocks.reshape(-1)
    present = (flat["flags"] & L.BLOCK_PRESENT) != 0
    off = flat["offset"][present]
    return bool(np.all(off[1:] >= off[:-1] + flat["nbytes"][present][:-1]))


def chunk_checksums(episodes: np.ndarray, blocks: np.ndarray, chunk_episodes: int, chunks=None,
                    block_shapes: np.ndarray | None = None) -> np.ndarray:
    """CRC-32 of each chunk: its EPISODE records, then its rows of the BLOCK table, then (1.1) its rows of
    block_shapes."""
    n = len(episodes)
    wanted = range((n + chunk_episodes - 1) // chunk_episodes) if chunks is None else chunks
    out = np.empty(len(wanted), "<u4")
    for j, k in enumerate(wanted):
        a, b = k * chunk_episodes, min(n, (k + 1) * chunk_episodes)
        crc = L.crc32(blocks[a:b], L.crc32(episodes[a:b]))
        out[j] = crc if block_shapes is None else L.crc32(np.ascontiguousarray(block_shapes[a:b]), crc)
    return out


def encode_string_table(strings: list[str]) -> tuple[np.ndarray, bytes]:
    encoded = [s.encode("utf-8") for s in strings]
    offsets = np.zeros(len(encoded) + 1, "<u8")
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return offsets, b"".join(encoded)


def encode_footer(f: Footer) -> tuple[list, int, int]:
    """Return (pieces to write in order, total footer length, CRC-32 of the footer header + section table)."""
    n, c = len(f.episodes), len(f.columns)
    name_ids = {s: i for i, s in enumerate(f.strings)}
    columns = np.concatenate([col.to_record(name_ids[col.name])[None] for col in f.columns]) if c else np.zeros(0, L.COLUMN)
    string_offsets, string_heap = encode_string_table(f.strings)
    blocks = np.ascontiguousarray(f.blocks).reshape(n, c)
    shapes = None if f.block_shapes is None else np.ascontiguousarray(f.block_shapes).reshape(n, c)
    chunk_crcs = chunk_checksums(f.episodes, blocks, f.chunk_episodes, block_shapes=shapes)
    names = L.SECTION_NAMES_1_2 if f.commit_info is not None else L.SECTION_NAMES if shapes is None \
        else L.SECTION_NAMES_1_1
    payloads = {
        "columns": (columns.tobytes(), c),
        "string_offsets": (string_offsets.tobytes(), len(f.strings)),
        "string_heap": (string_heap, len(string_heap)),
        "episodes": (np.ascontiguousarray(f.episodes).tobytes(), n),
        "blocks": (blocks.tobytes(), n * c),
        "attrs_heap": (bytes(f.attrs_heap), len(f.attrs_heap)),
        "stats": (np.ascontiguousarray(f.stats).tobytes(), c),
        "chunk_crcs": (chunk_crcs.tobytes(), len(chunk_crcs)),
        "block_shapes": (b"", 0) if shapes is None else (shapes.tobytes(), n * c),
        "commit_info": (f.commit_info or b"", len(f.commit_info or b"")),
    }
    sections = np.zeros(len(names), L.SECTION)
    pieces = []
    prefix_len = L.FOOTER_HEADER.itemsize + L.SECTION.itemsize * len(names)
    pos = L.align_up(prefix_len)
    for i, name in enumerate(names):
        data, count = payloads[name]
        sections[i] = (pos, len(data), count, 0 if name in L.CHUNKED_SECTIONS else L.crc32(data), 0)
        pieces.append(data)
        pieces.append(b"\0" * (L.align_up(len(data)) - len(data)))
        pos += L.align_up(len(data))
    header = np.zeros((), L.FOOTER_HEADER)
    header["magic"] = L.FOOTER_MAGIC
    header["num_episodes"] = n
    header["num_frames"] = f.num_frames
    header["num_columns"] = c
    header["num_strings"] = len(f.strings)
    header["chunk_episodes"] = f.chunk_episodes
    header["num_sections"] = len(names)
    prefix = header.tobytes() + sections.tobytes()
    prefix += b"\0" * (L.align_up(prefix_len) - len(prefix))
    return [prefix, *pieces], pos, L.crc32(prefix[:prefix_len])


def read_footer_prefix(raw: bytes, path, footer_offset: int, footer_length: int, minor: int = 0):
    """Check the footer header and the records of the sections this reader knows (raw = the footer header and
    its whole section table). Returns (header, sections)."""
    header = L.record(raw, L.FOOTER_HEADER)
    if bytes(header["magic"]) != L.FOOTER_MAGIC:
        raise BadMagicError(path, footer_offset, f"footer magic {L.FOOTER_MAGIC!r}", bytes(header["magic"]))
    if not len(L.SECTION_NAMES) <= int(header["num_sections"]) <= L.MAX_SECTIONS:
        raise CorruptFieldError(path, footer_offset + L.FOOTER_HEADER.fields["num_sections"][1],
                                f"num_sections in {len(L.SECTION_NAMES)}..{L.MAX_SECTIONS}", int(header["num_sections"]))
    if int(header["chunk_episodes"]) == 0:
        raise CorruptFieldError(path, footer_offset + L.FOOTER_HEADER.fields["chunk_episodes"][1],
                                "chunk_episodes > 0", 0)
    names = section_names(int(header["num_sections"]), minor)
    sections = np.frombuffer(raw, L.SECTION, count=len(names), offset=L.FOOTER_HEADER.itemsize)
    n = int(header["num_episodes"])
    c = int(header["num_columns"])
    s = int(header["num_strings"])
    chunk = int(header["chunk_episodes"])
    expected_counts = {
        "columns": (c, c * L.COLUMN.itemsize),
        "string_offsets": (s, (s + 1) * 8),
        "string_heap": (None, None),
        "episodes": (n, n * L.EPISODE.itemsize),
        "blocks": (n * c, n * c * L.BLOCK.itemsize),
        "attrs_heap": (None, None),
        "stats": (c, c * L.STAT.itemsize),
        "chunk_crcs": (-(-n // chunk), -(-n // chunk) * 4),
        "block_shapes": (n * c, n * c * L.BLOCK_SHAPE.itemsize),
        "commit_info": (None, None),
    }
    table_at = footer_offset + L.FOOTER_HEADER.itemsize
    prev_end = L.FOOTER_HEADER.itemsize + L.SECTION.itemsize * int(header["num_sections"])
    fields = L.SECTION.names
    rows = sections.tolist()  # plain ints: a numpy field read per value costs ~1 us, and open reads ~40 of them
    for i, name in enumerate(names):
        sec = dict(zip(fields, rows[i]))
        at = table_at + i * L.SECTION.itemsize
        off, length, count = sec["offset"], sec["length"], sec["count"]
        want_count, want_length = expected_counts[name]
        if name == "string_heap":
            want_count = length
        if name in ("attrs_heap", "commit_info"):
            want_count = length
        if name == "block_shapes" and len(names) > len(L.SECTION_NAMES_1_1) and count == 0:
            want_count, want_length = 0, 0  # a 1.2 edit commit without per-block shapes
        if count != want_count:
            raise CorruptFieldError(path, at + 16, f"section {name}.count {want_count}", count)
        if want_length is not None and length != want_length:
            raise CorruptFieldError(path, at + 8, f"section {name}.length {want_length}", length)
        if off % L.ALIGNMENT:
            raise OffsetError(path, at, f"section {name}.offset aligned to {L.ALIGNMENT}", off)
        if off < prev_end:
            raise OverlapError(path, at, f"section {name} to start at or after footer offset {prev_end}", off)
        if off + length > footer_length:
            raise OffsetError(path, at, f"section {name} to end within the footer ({footer_length} bytes)",
                              f"end at {off + length}")
        prev_end = off + length
    return header, sections


def decode_footer(buf: np.ndarray, path, footer_offset: int, footer_length: int, minor: int = 0,
                  checked_prefix: tuple | None = None) -> Footer:
    """Map the footer of the commit that ends at ``footer_offset + footer_length + 64`` (prefix already checked);
    ``minor`` is the version its trailer declares; ``checked_prefix``: (raw, header, sections) of its prefix as
    read_footer_prefix returned them (used when the map holds those same bytes)."""
    region = buf[footer_offset : footer_offset + footer_length]
    if checked_prefix is not None and region[: len(checked_prefix[0])].tobytes() == checked_prefix[0]:
        _, header, sections = checked_prefix
    else:
        n_prefix = prefix_length(region[: L.FOOTER_HEADER.itemsize].tobytes()) or FOOTER_PREFIX
        header, sections = read_footer_prefix(region[:n_prefix].tobytes(), path, footer_offset, footer_length,
                                              minor)
    names = section_names(int(header["num_sections"]), minor)
    views = {}
    offsets = {}
    fields = L.SECTION.names
    rows = [dict(zip(fields, row)) for row in sections.tolist()]
    for i, name in enumerate(names):
        off, length, want_crc = rows[i]["offset"], rows[i]["length"], rows[i]["crc32"]
        data = region[off : off + length]
        if name not in L.CHUNKED_SECTIONS and name not in ("attrs_heap", "commit_info"):  # those: at first use
            got = L.crc32(data)
            if got != want_crc:
                raise ChecksumError(path, footer_offset + off, f"section {name} CRC-32 {want_crc:#010x}",
                                    f"{got:#010x}", "the footer is corrupt")
        pad = region[off + length : min(L.align_up(off + length), footer_length)].tobytes()
        if pad.strip(b"\0"):
            raise CorruptFieldError(path, footer_offset + off + length, f"zero padding after section {name}",
                                    pad.hex())
        views[name] = data
        offsets[name] = footer_offset + off
    strings, columns = _schema(views, path, offsets, minor)
    n, c = int(header["num_episodes"]), int(header["num_columns"])
    shapes = views.get("block_shapes")
    shapes = None if shapes is None or (len(shapes) == 0 and n * c) else shapes
    info = views.get("commit_info")
    return Footer(
        columns=columns,
        strings=strings,
        episodes=views["episodes"].view(L.EPISODE),
        blocks=views["blocks"].view(L.BLOCK).reshape(n, c),
        attrs_heap=views["attrs_heap"],
        stats=views["stats"].view(L.STAT),
        num_frames=int(header["num_frames"]),
        chunk_episodes=int(header["chunk_episodes"]),
        chunk_crcs=views["chunk_crcs"].view("<u4"),
        section_offsets=offsets,
        attrs_crc32=rows[L.SECTION_NAMES.index("attrs_heap")]["crc32"],
        block_shapes=None if shapes is None else shapes.view(L.BLOCK_SHAPE).reshape(n, c),
        minor=minor,
        commit_info=None if info is None else info.tobytes(),
    )


def _schema(views: dict, path, offsets: dict, minor: int) -> tuple[list[str], list]:
    """The string table and the columns; the same bytes decode to the same values, so a small schema (the usual
    case: a few columns and tasks) is decoded once per process, not at every open or refresh."""
    raw = tuple(views[name].tobytes() for name in ("string_offsets", "string_heap", "columns"))
    if sum(map(len, raw)) > SCHEMA_CACHE_BYTES:
        return _decoded_schema(*raw, str(path), offsets["string_offsets"], offsets["string_heap"],
                               offsets["columns"], minor)
    strings, columns = _cached_schema(*raw, str(path), offsets["string_offsets"], offsets["string_heap"],
                                      offsets["columns"], minor)
    return list(strings), list(columns)


def _decoded_schema(string_offsets: bytes, heap: bytes, records: bytes, path: str, offsets_at: int, heap_at: int,
                    columns_at: int, minor: int) -> tuple[list[str], list]:
    at = {"string_offsets": offsets_at, "string_heap": heap_at}
    strings = _decode_strings(np.frombuffer(string_offsets, "<u8"), np.frombuffer(heap, np.uint8), path, at)
    return strings, columns_from_records(np.frombuffer(records, L.COLUMN), strings, path, columns_at, minor)


#: Schemas up to this many bytes (string table plus column records) are kept decoded, at most 64 of them.
SCHEMA_CACHE_BYTES = 1 << 16
_cached_schema = functools.lru_cache(maxsize=64)(_decoded_schema)


def _decode_strings(offsets: np.ndarray, heap: np.ndarray, path, section_offsets) -> list[str]:
    if len(offsets) == 0 or offsets[0] != 0 or bool(np.any(offsets[1:] < offsets[:-1])) or offsets[-1] != len(heap):
        raise CorruptFieldError(path, section_offsets["string_offsets"],
                                f"non-decreasing string offsets from 0 to the heap length {len(heap)}",
                                offsets[:8].tolist())
    raw = heap.tobytes()
    bounds = offsets.tolist()
    strings = []
    for i in range(len(bounds) - 1):
        try:
            strings.append(raw[bounds[i] : bounds[i + 1]].decode("utf-8"))
        except UnicodeDecodeError as e:
            raise CorruptFieldError(path, section_offsets["string_heap"] + bounds[i], f"utf-8 string #{i}", str(e)) from None
    return strings
