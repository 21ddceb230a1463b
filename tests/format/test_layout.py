"""format_spec.md and kinonb/layout.py must describe the same bytes.

The spec's struct tables ("### `NAME` (N bytes)" followed by a markdown table) are parsed and compared field by
field with the structured dtypes in ``kinonb.layout.STRUCTS``; so are the constants, the section order, the
role and codec numbers and the version table.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest

from kinonb.format import layout as L

SPEC_PATH = Path(__file__).resolve().parents[2] / "format_spec.md"
STRUCT_HEADING = re.compile(r"^### `(?P<name>[A-Z_]+)` \((?P<size>\d+) bytes\)\s*$")
STRUCT_COLUMNS = ["offset", "size", "type", "field", "reader checks"]


def _spec_lines() -> list[str]:
    """The spec's lines, with fenced code blocks (the ASCII pictures) blanked so they never read as tables."""
    lines = SPEC_PATH.read_text(encoding="utf-8").splitlines()
    fenced = False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
            lines[i] = ""
        elif fenced:
            lines[i] = ""
    return lines


def _cells(line: str) -> list[str]:
    """Cells of one markdown table row; a ``\\|`` inside a cell is a literal pipe."""
    body = line.strip()
    assert body.startswith("|") and body.endswith("|"), f"not a table row: {line!r}"
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", body[1:-1])]


def _table_after(lines: list[str], start: int) -> tuple[list[str], list[list[str]]]:
    """The first markdown table at or after line ``start`` (before the next heading): (header, rows)."""
    i = start
    while i < len(lines) and not lines[i].lstrip().startswith("|"):
        assert not lines[i].startswith("#"), f"no table under the heading before line {i + 1} of {SPEC_PATH.name}"
        i += 1
    assert i < len(lines), f"no table after line {start} of {SPEC_PATH.name}"
    header = _cells(lines[i])
    assert set("".join(_cells(lines[i + 1]))) <= set("-: "), f"line {i + 2}: expected a |---| separator row"
    rows = []
    i += 2
    while i < len(lines) and lines[i].lstrip().startswith("|"):
        rows.append(_cells(lines[i]))
        i += 1
    return header, rows


def _struct_tables() -> dict[str, tuple[int, list[list[str]]]]:
    lines = _spec_lines()
    tables: dict[str, tuple[int, list[list[str]]]] = {}
    for n, line in enumerate(lines):
        m = STRUCT_HEADING.match(line)
        if not m:
            continue
        name = m["name"]
        assert name not in tables, f"struct {name} has two tables in {SPEC_PATH.name}"
        header, rows = _table_after(lines, n + 1)
        assert header == STRUCT_COLUMNS, f"{name}: table header {header}, expected {STRUCT_COLUMNS}"
        tables[name] = (int(m["size"]), rows)
    return tables


def _table_with_header(first_cells: list[str]) -> list[list[str]]:
    """Rows of the one table whose header row starts with ``first_cells``."""
    lines = _spec_lines()
    found = [i for i, line in enumerate(lines)
             if line.lstrip().startswith("|") and _cells(line)[: len(first_cells)] == first_cells]
    assert len(found) == 1, f"expected one table with header {first_cells} in {SPEC_PATH.name}, found {len(found)}"
    return _table_after(lines, found[0])[1]


def _type_string(dt: np.dtype) -> str:
    """numpy's little-endian type string without the '|' of byte-order-free types; subarrays as base[shape]."""
    base = dt.base.str.lstrip("|")
    return f"{base}[{','.join(str(d) for d in dt.shape)}]" if dt.shape else base


def _dtype_rows(dt: np.dtype) -> list[tuple[str, int, int, str]]:
    rows = []
    for name in dt.names:
        field_dt, offset = dt.fields[name][:2]
        rows.append((name, offset, field_dt.itemsize, _type_string(field_dt)))
    return rows


def _spec_rows(struct: str, rows: list[list[str]]) -> list[tuple[str, int, int, str]]:
    out = []
    for r in rows:
        assert len(r) == len(STRUCT_COLUMNS), f"{struct}: row {r} has {len(r)} cells, expected {len(STRUCT_COLUMNS)}"
        offset, size, typ, field, checks = r
        m = re.fullmatch(r"`(\w+)`", field)
        assert m, f"{struct}: field cell {field!r} is not a backticked name"
        assert checks, f"{struct}.{m[1]}: the reader-checks cell is empty"
        out.append((m[1], int(offset), int(size), typ))
    return out


SPEC_TABLES = _struct_tables()


def test_every_struct_has_exactly_one_table():
    assert sorted(SPEC_TABLES) == sorted(L.STRUCTS), "struct tables in format_spec.md differ from layout.STRUCTS"


@pytest.mark.parametrize("name", sorted(L.STRUCTS))
def test_struct_table_matches_dtype(name):
    dt = L.STRUCTS[name]
    assert name in SPEC_TABLES, f"format_spec.md has no '### `{name}` (N bytes)' table"
    size, rows = SPEC_TABLES[name]
    assert size == dt.itemsize, f"{name}: spec says {size} bytes, dtype itemsize is {dt.itemsize}"
    assert _spec_rows(name, rows) == _dtype_rows(dt)


@pytest.mark.parametrize("name", sorted(L.STRUCTS))
def test_struct_has_no_implicit_padding(name):
    """Every byte of a struct belongs to a named field (reserved bytes are explicit), little-endian throughout."""
    dt = L.STRUCTS[name]
    end = 0
    for field, offset, size, typ in _dtype_rows(dt):
        assert offset == end, f"{name}.{field} starts at {offset}, the previous field ends at {end}"
        assert not typ.startswith(">"), f"{name}.{field} is big-endian ({typ})"
        end = offset + size
    assert end == dt.itemsize, f"{name}: fields end at {end}, itemsize is {dt.itemsize}"


def test_struct_sizes_keep_alignment():
    """Structs laid back to back in a section stay 64-aligned wherever the spec relies on it."""
    for name in ("HEADER", "TRAILER", "FOOTER_HEADER", "COLUMN", "EPISODE", "STAT"):
        assert L.STRUCTS[name].itemsize == L.ALIGNMENT, name
    assert (L.FOOTER_HEADER.itemsize + len(L.SECTION_NAMES) * L.SECTION.itemsize) % L.ALIGNMENT == 0


def test_crc32_test_vector():
    text = SPEC_PATH.read_text(encoding="utf-8")
    vectors = re.findall(r'crc32\(b"([^"]*)"\) = (0x[0-9A-Fa-f]{8})', text)
    assert vectors, "format_spec.md states no CRC-32 test vector"
    for data, value in vectors:
        assert L.crc32(data.encode("ascii")) == int(value, 16), f"crc32({data!r}) != {value}"
    assert L.crc32(b"123456789") == 0xCBF43926


def test_constants_table():
    rows = _table_with_header(["constant", "value"])
    spec = {re.fullmatch(r"`(\w+)`", name)[1]: ast.literal_eval(value.strip("`")) for name, value in rows}
    for name, value in spec.items():
        assert getattr(L, name) == value, f"format_spec.md says {name} = {value!r}, layout has {getattr(L, name)!r}"
    assert {"FORMAT_MAJOR", "FORMAT_MINOR", "ALIGNMENT", "HEADER_MAGIC", "FOOTER_MAGIC", "TRAILER_MAGIC",
            "CHUNK_EPISODES", "MAX_NDIM"} <= spec.keys()


def test_section_order():
    rows = _table_with_header(["#", "section"])
    names = [re.fullmatch(r"`(\w+)`", r[1])[1] for r in rows]
    assert [int(r[0]) for r in rows] == list(range(len(rows)))
    assert tuple(names) == L.SECTION_NAMES_1_1


def test_roles_and_codecs():
    roles = _table_with_header(["role", "value"])
    assert [(r[0], int(r[1])) for r in roles] == [(n, i) for i, n in enumerate(L.ROLE_NAMES)]
    codecs = _table_with_header(["codec", "value"])
    assert [(r[0], int(r[1])) for r in codecs] == [(n, i) for i, n in enumerate(L.CODEC_NAMES)]


def test_allowed_dtypes_listed():
    lines = _spec_lines()
    para = next(i for i, line in enumerate(lines) if "allowed `COLUMN.dtype` strings" in line)
    text = " ".join(lines[para : para + 3])
    text = text.split(" are: ", 1)[1].split(".", 1)[0]  # the list, up to the end of its sentence
    listed = [s.encode() for s in re.findall(r"`([|<][biuf]\d)`", text)]
    assert listed == list(L.ALLOWED_DTYPES)


def test_version_table():
    rows = _table_with_header(["version", "kinonb", "change"])
    versions = {tuple(int(x) for x in r[0].split(".")): r[2] for r in rows}
    assert versions == L.VERSIONS
    assert max(versions) == (L.FORMAT_MAJOR, L.FORMAT_MINOR)
