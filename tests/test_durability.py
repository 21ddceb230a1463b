"""Every truncation and every single-bit flip of a small multi-commit file: intact earlier data or FormatError."""

import os
import warnings

import numpy as np
import pytest

import kinonb

COMMITS = [1, 3, 4]  # episodes after each commit


def build(path, compression="lz4"):
    eps = []
    with kinonb.create(path, compression=compression, sync=False) as w:
        for i in range(COMMITS[-1]):
            ep = dict(actions=np.full((3, 2), i, np.float32), rewards=np.arange(3, dtype=np.float32) * i,
                      images={"top": np.full((3, 2, 2, 1), 10 + i, np.uint8)}, task=f"task {i % 2}",
                      success=bool(i % 2), attrs={"i": i})
            w.add_episode(**ep)
            eps.append(ep)
            if i + 1 in COMMITS:
                w.commit()
    return eps


def read_all(db):
    out = []
    for i in range(db.num_episodes()):
        ep = db.read_episode(i)
        out.append((ep["actions"].tobytes(), ep["rewards"].tobytes(), ep["images"]["top"].tobytes(),
                    ep["meta"]["task"], ep["meta"]["success"], ep["meta"]["attrs"]))
    return out


def expected(eps):
    return [(e["actions"].tobytes(), e["rewards"].tobytes(), e["images"]["top"].tobytes(), e["task"], e["success"],
             e["attrs"]) for e in eps]


def open_quietly(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return kinonb.open(path)


def test_truncation_every_offset(tmp_path):
    src = tmp_path / "full.knb"
    eps = build(src)
    raw = src.read_bytes()
    cut = tmp_path / "cut.knb"
    commit_ends = {}
    outcomes = {"error": 0}
    for k in range(len(raw) + 1):
        cut.write_bytes(raw[:k])
        try:
            db = open_quietly(cut)
            got = read_all(db)
        except kinonb.FormatError:
            outcomes["error"] += 1
            continue
        n = db.num_episodes()
        assert n in [0, *COMMITS], f"cut at {k}: {n} episodes is not a commit boundary"
        assert got == expected(eps[:n]), f"cut at {k}"
        commit_ends.setdefault(n, k)
        # the newest commit whose trailer fits in the first k bytes is the one that opens
        assert n == max((m for m, end in commit_ends.items() if end <= k), default=0)
        outcomes[n] = outcomes.get(n, 0) + 1
    assert set(commit_ends) == {0, *COMMITS}, commit_ends
    assert outcomes["error"] > 0


def test_repair_then_append_after_truncation(tmp_path):
    src = tmp_path / "d.knb"
    build(src)
    raw = src.read_bytes()
    src.write_bytes(raw[:-100])  # tear the last commit
    report = kinonb.validate(src)
    assert report.ok and report.ignored_bytes > 0 and report.episodes == COMMITS[-2]
    removed = kinonb.repair(src)
    assert removed == report.ignored_bytes
    assert kinonb.validate(src).ignored_bytes == 0
    with kinonb.append(src) as w:
        w.add_episode(actions=np.zeros((2, 2), np.float32))
    assert kinonb.open(src).num_episodes() == COMMITS[-2] + 1


def test_bitflip_every_byte(tmp_path):
    src = tmp_path / "full.knb"
    eps = build(src)
    raw = bytearray(src.read_bytes())
    good = {n: expected(eps[:n]) for n in [0, *COMMITS]}
    flipped = tmp_path / "flip.knb"
    undetected_in_live_region = []
    db0 = kinonb.open(src)
    live_footer = (db0._commit.footer_offset, db0._commit.end)
    for k in range(len(raw)):
        raw[k] ^= 1 << (k % 8)
        flipped.write_bytes(raw)
        raw[k] ^= 1 << (k % 8)
        try:
            db = open_quietly(flipped)
            got = read_all(db)
        except kinonb.FormatError:
            continue
        report = kinonb.validate(flipped, deep=True)
        if not report.ok:
            continue
        n = db.num_episodes()
        if got != good.get(n):
            undetected_in_live_region.append(k)
        elif live_footer[0] <= k < live_footer[1]:
            # A flip in the newest footer or trailer must be caught by a checksum, unless it lands in padding.
            assert n < COMMITS[-1] or _is_padding(db0, k), f"footer/trailer flip at {k} went unnoticed"
    assert not undetected_in_live_region, f"flips that changed data silently: {undetected_in_live_region[:10]}"


def _is_padding(db, k):
    f = db._footer
    from kinonb import layout as L
    from kinonb.footer import FOOTER_PREFIX

    start = db._commit.footer_offset
    if start + FOOTER_PREFIX <= k < start + L.align_up(FOOTER_PREFIX):
        return True
    return False
