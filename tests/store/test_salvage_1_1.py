"""Salvage of format 1.1 files (format_spec.md §15.1, "Format 1.1 footers"): 9-section footers found without
their trailer, chunk CRCs over block_shapes, per-block frame counts and shapes, every camera codec kept.

The file: float64 actions whose width changes (COLUMN_VARIABLE_SHAPE set by a later commit), an episode without
actions, T+1 states (COLUMN_OWN_FRAMES), timestamps, a stream, an episode array, two recorded casts, an lz4, a
jpeg and (when PyAV is importable) a video camera, written over three commits. Each test names the guarantee
row (S1, S2, S5) it checks for 1.1.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import kinonb
from kinonb.format import layout as L
from kinonb.testing import assert_episode_equal, same_bits, stored_dtypes

pytest.importorskip("simplejpeg")
try:
    import av  # noqa: F401

    HAVE_AV = True
except ImportError:
    HAVE_AV = False

COMMITS = (2, 4)  # commits end after 2, 4 and 6 episodes
N = 6


def frames(t, i):
    y, x = np.mgrid[:16, :16]
    base = np.stack([x * 8 + i, y * 9, (x + y) * 4], -1).astype(np.uint8)
    return np.stack([np.roll(base, k, axis=1) for k in range(t)])


def episode(i):
    t = 3 + i % 3
    width = 2 if i < 3 else 3  # episode 3 widens actions: a later commit sets the per-block flag
    ep = dict(actions=np.arange(t * width, dtype=np.float64).reshape(t, width) / 3 + i,
              states=np.full((t + (i >= 3), 2), i, np.float32), rewards=np.linspace(0, 1, t) + i,
              columns={"force": np.arange(t, dtype=np.int64) * 7 + i}, timestamps=np.arange(t) * 0.1 + i,
              images={"wrist": frames(t, i), "front": frames(t, 2 * i)}, task=f"task {i % 2}", embodiment="arm",
              fps=10.0, success=bool(i % 2), total_reward=float(i), attrs={"i": i, "tag": "x" * i},
              episode_id=500 + 3 * i)
    if i >= 2:
        ep["streams"] = {"imu": (np.arange(i % 3) * 0.05 + i, np.full((i % 3, 3), i, np.int16))}
        ep["episode_arrays"] = {"init": np.full((2, 2), i / 7, np.float64)}
    if HAVE_AV:
        from kinonb.codecs import video

        ep["images"]["side"] = video.encode(frames(t, 3 * i), "h264", crf=20, gop=2)
    if i == 2:
        del ep["actions"]
    return ep


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """(path, bytes, the add_episode kwargs, the file's own reads, its stored camera bytes)."""
    path = tmp_path_factory.mktemp("salvage11") / "src.knb"
    eps = [episode(i) for i in range(N)]
    with kinonb.create(path, compression={"wrist": "lz4", "front": "jpeg"}, sync=False,
                       dtypes={"rewards": "float16", "force": "float32"}) as w:
        for i, ep in enumerate(eps):
            w.add_episode(**ep)
            if i + 1 in COMMITS:
                w.commit()
    db = kinonb.open(path)
    assert db.version() == "1.1"
    reads = [db.read_episode(i) for i in range(N)]
    stored = [db.read_episode(i, raw_frames=True)["images"] for i in range(N)]
    return path, path.read_bytes(), eps, reads, stored


def assert_same_read(got, want, where=""):
    """Two read_episode results hold the same keys, metadata and bits (an empty ``streams`` or ``episode_arrays``
    may be absent: a salvaged file lacks the columns none of its episodes uses)."""
    assert set(got) == {key for key, v in want.items() if key in got or v != {}}, (where, sorted(got), sorted(want))
    for key, value in want.items():
        if key not in got:
            continue
        if isinstance(value, dict) and key != "meta":
            assert set(got[key]) == set(value), (where, key)
            for name, v in value.items():
                for a, b in zip(got[key][name], v) if isinstance(v, tuple) else [(got[key][name], v)]:
                    assert same_bits(a, b), (where, key, name)
        elif value is None or key == "meta":
            assert got[key] == value, (where, key)
        else:
            assert same_bits(got[key], value), (where, key)


def check_salvaged(out, source, positions):
    """The output holds exactly the episodes at ``positions``, as the source wrote and read them."""
    _, _, eps, reads, stored = source
    db = kinonb.open(out)
    assert db.num_episodes() == len(positions)
    dtypes = stored_dtypes(eps, {"rewards": np.float16})
    for i, p in enumerate(positions):
        got = db.read_episode(i)
        assert_same_read(got, reads[p], p)
        written = dict(eps[p], columns={"force": eps[p]["columns"]["force"].astype(np.float32)})  # dtypes=
        no_images = {key: v for key, v in got.items() if key != "images"}  # lossy jpeg/video: compared above
        assert_episode_equal(no_images, written, with_images=False, dtypes=dtypes,
                             keys={"timestamps", "streams", "episode_arrays"} & set(got))
        raw = db.read_episode(i, raw_frames=True)["images"]
        assert raw["front"].frames == stored[p]["front"].frames  # jpeg bytes copied, not encoded again
        if HAVE_AV:
            assert raw["side"].packets == stored[p]["side"].packets and raw["side"].extradata == stored[p]["side"].extradata
    return db


def trailer_ends(raw: bytes) -> dict:
    ends = {}
    for k in range(2 * L.ALIGNMENT, len(raw) + 1, L.ALIGNMENT):
        if raw[k - 64 : k - 56] == L.TRAILER_MAGIC:
            ends[int(np.frombuffer(raw, L.TRAILER, count=1, offset=k - 64)[0]["num_episodes"])] = k
    return ends


def lost_positions(report) -> list[int]:
    out = []
    for line in report.lost:
        a, b = re.match(r"episodes? (\d+)(?:\.\.(\d+))?:", line).groups()
        out.extend(range(int(a), int(b or a) + 1))
    return out


def salvage_cut(source, tmp_path, k):
    """Salvage the first ``k`` bytes of the source; check what S1 promises; return the report."""
    _, raw, *_ = source
    cut, out = tmp_path / "cut.knb", tmp_path / "out.knb"
    cut.write_bytes(raw[:k])
    report = kinonb.salvage(cut, out, overwrite=True)
    floor = max(n for n, end in trailer_ends(raw).items() if end <= k)
    assert floor <= report.recovered <= N, k
    assert report.ok == (report.lost_episodes == 0) and len(lost_positions(report)) == report.lost_episodes, k
    assert lost_positions(report) == list(range(report.recovered, report.recovered + report.lost_episodes)), k
    check_salvaged(out, source, range(report.recovered))
    return report


def test_footers_of_the_source_are_1_1(source):
    """The file exercises what this module is for: 9-section footers, and an older 8-section one."""
    path, raw, *_ = source
    ends = trailer_ends(raw)
    assert sorted(ends) == [0, *COMMITS, N]
    sections = []
    for n in COMMITS + (N,):
        t = np.frombuffer(raw, L.TRAILER, count=1, offset=ends[n] - 64)[0]
        head = np.frombuffer(raw, L.FOOTER_HEADER, count=1, offset=int(t["footer_offset"]))[0]
        sections.append((int(head["num_sections"]), int(t["minor"])))
    assert sections == [(8, 1), (9, 1), (9, 1)]  # per-block flags come with the second commit
    schema = {c["name"]: c for c in kinonb.open(path).schema()}
    assert schema["actions"]["shape_varies"] and schema["states"]["own_frames"]
    assert schema["rewards"]["cast_from"] == "float64" and schema["force"]["cast_from"] == "int64"


def test_salvage_of_a_healthy_1_1_file_equals_its_reads(source, tmp_path):
    """S5 for 1.1: the same reads, column dtypes, codecs and flags; the one cast the writer cannot make again
    (float32 values from int64 input) keeps its values and dtype, loses its flag, and the report says so."""
    path, _, eps, reads, _ = source
    out = tmp_path / "copy.knb"
    report = kinonb.salvage(path, out)
    assert report.ok and report.recovered == N and report.lost == []
    assert any("'force': cast from int64" in note for note in report.notes)
    db = check_salvaged(out, source, range(N))
    want = kinonb.open(path).schema()
    want[[c["name"] for c in want].index("force")].pop("cast_from")
    assert db.schema() == want and db.version() == "1.1"
    codecs = {c["name"]: c["codec"] for c in db.schema() if c["role"] == "camera"}
    assert codecs == {"wrist": "lz4", "front": "jpeg"} | ({"side": "video"} if HAVE_AV else {})
    assert [db.read_meta(i)["episode_id"] for i in range(N)] == [ep["episode_id"] for ep in eps]
    assert kinonb.validate(out, deep=True).ok


def cut_offsets(raw: bytes, step: int) -> list[int]:
    """Every ``step`` bytes, plus each commit's footer start, its middle and its trailer, and their edges."""
    ends = trailer_ends(raw)
    picks = set(range(512, len(raw) + 1, step))
    for n, end in ends.items():
        t = np.frombuffer(raw, L.TRAILER, count=1, offset=end - 64)[0]
        fo = int(t["footer_offset"])
        picks |= {fo, fo + 1, fo + 64 * 9, (fo + end) // 2, end - 64, end - 1, end, end + 64}
    return sorted(k for k in picks if 512 <= k <= len(raw))


def test_salvage_1_1_after_cuts_at_many_offsets(source, tmp_path):
    """S1 for 1.1: a cut anywhere (here at about 40 offsets, the footers' edges among them) loses at most the
    episodes after the last commit wholly before the cut; the rest is recovered bit for bit, the loss reported."""
    _, raw, *_ = source
    beyond = set()
    for k in cut_offsets(raw, len(raw) // 24):
        report = salvage_cut(source, tmp_path, k)
        beyond.add(report.recovered - max(n for n, end in trailer_ends(raw).items() if end <= k))
    assert beyond - {0}, "no cut left a torn 1.1 footer to recover episodes from"


@pytest.mark.slow
def test_salvage_1_1_after_a_cut_every_64_bytes(source, tmp_path):
    """S1 for 1.1 at every 64-byte boundary of the file (and one byte after it)."""
    _, raw, *_ = source
    for k in range(512, len(raw) + 1, 64):
        salvage_cut(source, tmp_path, k)
        if k + 1 <= len(raw):
            salvage_cut(source, tmp_path, k + 1)


def block_of(path, p, column):
    db = kinonb.open(path)
    blk = db._index.blocks[p, db.column_names().index(column)]
    return int(blk["offset"]), int(blk["nbytes"])


@pytest.mark.parametrize("column", ["front", "side", "wrist", "imu", "states", "init"])
def test_overwritten_1_1_block_loses_only_its_episode(source, tmp_path, column):
    """S2 for 1.1: bytes overwritten in a jpeg, video or lz4 block, a stream, T+1 states or an episode array
    lose only that episode, and the report names it, the column and the CRC."""
    if column == "side" and not HAVE_AV:
        pytest.skip("PyAV is not importable: the file has no video camera")
    path, raw, *_ = source
    src, out = tmp_path / "src.knb", tmp_path / "out.knb"
    off, nbytes = block_of(path, 5, column)
    damaged = bytearray(raw)
    damaged[off + nbytes // 2 : off + nbytes // 2 + 4] = b"\xff\xfe\xfd\xfc"
    src.write_bytes(damaged)
    report = kinonb.salvage(src, out)
    assert not report.ok and report.recovered == N - 1 and report.lost_episodes == 1
    assert report.lost[0].startswith(f"episode 5: column {column!r}: block at byte {off}") and "CRC-32" in report.lost[0]
    check_salvaged(out, source, range(N - 1))


def test_overwritten_last_1_1_footer_falls_back(source, tmp_path):
    """S2 for 1.1: bytes overwritten in the last footer's block_shapes, episodes, blocks or column table lose
    nothing (an older footer's row, or the block CRCs, vouch for each row); a destroyed footer header loses only
    the episodes of the last commit."""
    path, raw, *_ = source
    src, out = tmp_path / "src.knb", tmp_path / "out.knb"
    db = kinonb.open(path)
    at, c = db._footer.section_offsets, len(db.column_names())
    row = L.BLOCK_SHAPE.itemsize * c  # one episode's block_shapes rows
    cases = [(at["block_shapes"] + 8, 0), (at["block_shapes"] + 4 * row + 8, 1), (at["episodes"] + 70, 0),
             (at["blocks"] + 30, 0), (at["columns"] + 10, 0), (db._commit.footer_offset, N - COMMITS[-1])]
    for target, lost in cases:
        damaged = bytearray(raw)
        damaged[target : target + 8] = b"\x5a" * 8
        src.write_bytes(damaged)
        report = kinonb.salvage(src, out, overwrite=True)
        assert report.lost_episodes == lost, (target, report.lost)
        check_salvaged(out, source, [p for p in range(N) if p not in lost_positions(report)])


def test_cut_inside_block_shapes_keeps_the_rows_before_the_cut(source, tmp_path):
    """S1 for 1.1: block_shapes is a footer's last section, so a file cut short ends inside it: each episode
    whose BLOCK_SHAPE rows lie wholly before the cut is recovered through its block CRCs (the 1.0 analogue of
    issue 15); the ones whose rows the cut removes fall back to older footers, else are lost and reported."""
    path, raw, *_ = source
    db = kinonb.open(path)
    at, row = db._footer.section_offsets["block_shapes"], L.BLOCK_SHAPE.itemsize * len(db.column_names())
    for k in sorted({at + p * row + d for p in range(COMMITS[-1], N + 1) for d in (-1, 0, 1)} | {len(raw) - 100}):
        report = salvage_cut(source, tmp_path, k)
        assert report.recovered == max(COMMITS[-1], min(N, (k - at) // row)), k
