"""Salvage (format_spec.md §15.1), auto-commit, and what validate and repair do with a tail salvage could save.

Issue 15: a copy cut short must not lose the dataset. Each test names the guarantee row (S1..S5) it checks.
"""

import warnings

import numpy as np
import pytest

import kinonb
import kinonb.store.recovery
from kinonb.format import layout as L
from kinonb.testing import assert_episode_equal, same_bits


def episode(i, frames=4):
    return dict(actions=np.full((frames, 3), i, np.float32), states=np.arange(frames * 2, dtype=np.float32).reshape(frames, 2) + i,
                rewards=np.full(frames, 0.5 * i, np.float32), images={"top": np.full((frames, 4, 4, 3), i % 250, np.uint8)},
                columns={"force": np.full((frames, 2), i, np.int16)}, task=f"task {i % 3}", embodiment="arm",
                fps=10.0, success=bool(i % 2), total_reward=float(i), attrs={"i": i}, episode_id=1000 + i)


def write(path, n, commits=(), compression="lz4", **kw):
    eps = [episode(i) for i in range(n)]
    with kinonb.create(path, compression=compression, sync=False, **kw) as w:
        for i, ep in enumerate(eps):
            w.add_episode(**ep)
            if i + 1 in commits:
                w.commit()
    return eps


def trailer_ends(raw: bytes) -> dict:
    """{episodes: end of the commit with that many episodes} from every intact-looking trailer."""
    ends = {}
    for k in range(2 * L.ALIGNMENT, len(raw) + 1, L.ALIGNMENT):
        if raw[k - 64 : k - 56] == L.TRAILER_MAGIC:
            ends[int(np.frombuffer(raw, L.TRAILER, count=1, offset=k - 64)[0]["num_episodes"])] = k
    return ends


def check_salvaged(out, eps, positions):
    db = kinonb.open(out)
    assert db.num_episodes() == len(positions)
    for i, p in enumerate(positions):
        got = db.read_episode(i)
        assert_episode_equal(got, eps[p])
        assert got["meta"]["episode_id"] == eps[p]["episode_id"] and got["meta"]["fps"] == eps[p]["fps"]
    return db


def quiet_open(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return kinonb.open(path)


def test_issue_15_cut_copy_of_one_commit(tmp_path):
    """S1, S3, S4: 200 episodes in one `with`, the last 100 bytes cut off: the reader sees 0 episodes, salvage
    recovers all 200, validate does not pass and says so, and repair refuses without force."""
    src, out = tmp_path / "lift.knb", tmp_path / "rescued.knb"
    eps = write(src, 200)
    raw = src.read_bytes()
    src.write_bytes(raw[:-100])
    assert quiet_open(src).num_episodes() == 0
    report = kinonb.validate(src)
    assert not report.ok and report.recoverable_episodes == 200 and report.unreachable_bytes == len(raw) - 100 - 512
    assert "200 of 200 episodes recoverable by `kinonb salvage" in report.errors[0]
    with pytest.raises(kinonb.RecoverableTailError, match="200 of 200 episodes"):
        kinonb.repair(src)
    with pytest.raises(kinonb.RecoverableTailError):
        kinonb.append(src, repair=True)
    assert src.stat().st_size == len(raw) - 100  # nothing was removed
    result = kinonb.salvage(src, out)
    assert result.ok and result.recovered == 200 and result.lost_episodes == 0 and result.lost == []
    check_salvaged(out, eps, range(200))
    assert kinonb.validate(out, deep=True).ok
    with pytest.warns(UserWarning, match=r"removing \d+ bytes .* holding 200 recoverable episodes"):
        assert kinonb.repair(src, force=True) == len(raw) - 100 - 512
    assert src.stat().st_size == 512


def test_salvage_of_a_healthy_file_equals_its_reads(tmp_path):
    """S5: salvage of an intact file of several commits reads back exactly what the file reads."""
    src, out = tmp_path / "ok.knb", tmp_path / "copy.knb"
    write(src, 9, commits=(2, 5))
    with kinonb.append(src, sync=False) as w:  # a column that older episodes lack
        w.add_episode(actions=np.zeros((2, 3), np.float32), columns={"late": np.arange(2, dtype=np.uint8)})
    report = kinonb.salvage(src, out)
    assert report.ok and report.recovered == 10
    a, b = kinonb.open(src), kinonb.open(out)
    assert a.schema() == b.schema()
    for i in range(10):
        x, y = a.read_episode(i), b.read_episode(i)
        assert x["meta"] == y["meta"]
        for key in ("actions", "states", "rewards", "is_terminal", "force", "late"):
            assert (x.get(key) is None and y.get(key) is None) or same_bits(x[key], y[key]), (i, key)
        assert x["images"].keys() == y["images"].keys()
        for name in x["images"]:
            assert same_bits(x["images"][name], y["images"][name])


def test_salvage_after_cuts_at_many_offsets(tmp_path):
    """S1: a cut anywhere loses at most the episodes after the last commit wholly before the cut; whatever is
    recovered is a prefix of what was written, bit for bit, and the report accounts for the rest."""
    src, cut, out = tmp_path / "src.knb", tmp_path / "cut.knb", tmp_path / "out.knb"
    eps = write(src, 7, commits=(2, 5))
    raw = src.read_bytes()
    ends = trailer_ends(raw)
    assert sorted(ends) == [0, 2, 5, 7]
    offsets = sorted(set(range(512, len(raw) + 1, 320)) | set(range(len(raw) - 130, len(raw) + 1, 11)))
    seen = set()
    for k in offsets:
        cut.write_bytes(raw[:k])
        floor = max(n for n, end in ends.items() if end <= k)
        report = kinonb.salvage(cut, out, overwrite=True)
        assert floor <= report.recovered <= 7, k
        assert report.ok == (report.lost_episodes == 0)
        check_salvaged(out, eps, range(report.recovered))
        seen.add(report.recovered - floor)
    assert seen - {0}, "no cut left episodes beyond the last intact commit to recover"


@pytest.mark.slow
def test_salvage_after_a_cut_at_every_offset(tmp_path):
    """S1 at every byte of a smaller file."""
    src, cut, out = tmp_path / "src.knb", tmp_path / "cut.knb", tmp_path / "out.knb"
    eps = write(src, 3, commits=(1,))
    raw = src.read_bytes()
    ends = trailer_ends(raw)
    for k in range(512, len(raw) + 1):
        cut.write_bytes(raw[:k])
        report = kinonb.salvage(cut, out, overwrite=True)
        assert report.recovered >= max(n for n, end in ends.items() if end <= k), k
        check_salvaged(out, eps, range(report.recovered))


def block_of(path, p, column):
    db = kinonb.open(path)
    c = db.column_names().index(column)
    blk = db._index.blocks[p, c]
    return int(blk["offset"]), int(blk["nbytes"])


def test_overwritten_block_loses_only_its_episode(tmp_path):
    """S2: bytes overwritten in the middle of one episode's block: only that episode is lost, and the report
    names it and why."""
    src, out = tmp_path / "src.knb", tmp_path / "out.knb"
    eps = write(src, 8, commits=(4,))
    off, nbytes = block_of(src, 5, "states")
    raw = bytearray(src.read_bytes())
    raw[off + nbytes // 2 : off + nbytes // 2 + 4] = b"\xff\xfe\xfd\xfc"
    src.write_bytes(raw)
    report = kinonb.salvage(src, out)
    assert not report.ok and report.recovered == 7 and report.lost_episodes == 1
    assert report.lost[0].startswith("episode 5: column 'states': block at byte") and "CRC-32" in report.lost[0]
    check_salvaged(out, eps, [0, 1, 2, 3, 4, 6, 7])


def test_overwritten_last_footer_falls_back(tmp_path):
    """S2: bytes overwritten inside the last footer: a damaged index chunk is recovered row by row through the
    block CRCs, damaged column records through an older footer's; a destroyed footer header loses only the
    episodes no older footer indexes."""
    src, out = tmp_path / "src.knb", tmp_path / "out.knb"
    eps = write(src, 8, commits=(5,))
    raw = src.read_bytes()
    db = kinonb.open(src)
    sections = db._footer.section_offsets
    for target, lost in ((sections["episodes"] + 70, 0), (sections["blocks"] + 30, 0), (sections["columns"] + 10, 0),
                         (db._commit.footer_offset, 3)):
        damaged = bytearray(raw)
        damaged[target : target + 8] = b"\x5a" * 8
        src.write_bytes(damaged)
        report = kinonb.salvage(src, out, overwrite=True)
        assert report.lost_episodes == lost, (target, report.lost)
        check_salvaged(out, eps, range(8 - lost))
        if lost:
            assert report.lost == ["episodes 5..7: no footer row describes it (the index section is damaged or cut "
                                   "off)"] or report.lost[0].startswith("episodes 5..7")


def test_autocommit_bounds_what_a_cut_loses(tmp_path):
    """S3 (auto-commit): with autocommit_episodes=3 one `with` block commits every 3 episodes, so a cut anywhere
    loses at most the episodes since the last auto-commit before it."""
    src, cut, out = tmp_path / "src.knb", tmp_path / "cut.knb", tmp_path / "out.knb"
    eps = write(src, 10, autocommit_episodes=3)
    raw = src.read_bytes()
    ends = trailer_ends(raw)
    assert sorted(ends) == [0, 3, 6, 9, 10]
    for k in range(ends[3], len(raw) + 1, 241):
        cut.write_bytes(raw[:k])
        committed = max(n for n, end in ends.items() if end <= k)
        assert quiet_open(cut).num_episodes() == committed  # a reader alone already keeps every auto-commit
        report = kinonb.salvage(cut, out, overwrite=True)
        assert report.recovered >= committed >= min(10, report.recovered) - 3
        check_salvaged(out, eps, range(report.recovered))


def test_autocommit_bytes_and_its_footer_rule(tmp_path):
    """S3: autocommit_bytes commits once pending block bytes reach max(autocommit_bytes, last footer size), so
    many small episodes still write O(N): with a 1-byte bound, 300 tiny episodes make only a few dozen commits."""
    path = tmp_path / "a.knb"
    with kinonb.create(path, sync=False, autocommit_bytes=4096) as w:
        for i in range(20):
            w.add_episode(actions=np.full((128, 2), i, np.float32))  # 1 KiB a block
    assert sorted(trailer_ends(path.read_bytes())) == [0, 4, 8, 12, 16, 20]
    with kinonb.create(path, sync=False, overwrite=True, autocommit_bytes=1) as w:
        for i in range(300):
            w.add_episode(actions=np.full((1, 1), i, np.float32))
    commits = len(trailer_ends(path.read_bytes()))
    assert 5 < commits < 40, commits
    with kinonb.create(path, sync=False, overwrite=True, autocommit_bytes=None) as w:
        for i in range(50):
            w.add_episode(actions=np.full((128, 2), i, np.float32))
    assert sorted(trailer_ends(path.read_bytes())) == [0, 50]
    for bad in (0, -1, True, 1.5, "64M"):
        with pytest.raises(kinonb.InvalidArgumentError):
            kinonb.create(tmp_path / "x.knb", autocommit_bytes=bad)
        with pytest.raises(kinonb.InvalidArgumentError):
            kinonb.append(path, autocommit_episodes=bad)
    assert not (tmp_path / "x.knb").exists()


def test_validate_passes_a_plain_torn_append_and_repair_removes_it(tmp_path):
    """S4: a tail holding no footer row (a kill while blocks were written) is a torn append: validate passes
    with a warning, and repair removes it after saying what it removes."""
    src = tmp_path / "src.knb"
    write(src, 6, commits=(3,))
    db = kinonb.open(src)
    ends = trailer_ends(src.read_bytes())
    src.write_bytes(src.read_bytes()[: db._commit.footer_offset - 3])
    report = kinonb.validate(src)
    assert report.ok and report.recoverable_episodes == 0 and report.unreachable_bytes == 0 and report.warnings
    with pytest.warns(UserWarning, match="removing"):
        assert kinonb.repair(src) == db._commit.footer_offset - 3 - ends[3]


def test_validate_flags_a_tail_longer_than_a_torn_append(tmp_path, monkeypatch):
    """S4: more bytes after the last intact commit than a torn append under the auto-commit interval holds is
    not a pass, even when no footer indexes them."""
    src = tmp_path / "src.knb"
    write(src, 60, commits=(3,))
    db = kinonb.open(src)
    src.write_bytes(src.read_bytes()[: db._commit.footer_offset - 3])
    monkeypatch.setattr(kinonb.store.recovery, "DEFAULT_AUTOCOMMIT_BYTES", 64)
    report = kinonb.validate(src)
    assert not report.ok and report.unreachable_bytes > 0 and "more than a torn append" in report.errors[0]


def test_salvage_refuses_its_own_input_and_a_missing_footer(tmp_path):
    src = tmp_path / "src.knb"
    write(src, 2)
    with pytest.raises(kinonb.InvalidArgumentError):
        kinonb.salvage(src, src)
    junk = tmp_path / "junk.knb"
    junk.write_bytes(b"\0" * 4096)
    report = kinonb.salvage(junk, tmp_path / "none.knb")
    assert not report.ok and report.recovered == 0 and "no footer" in report.errors[0]
