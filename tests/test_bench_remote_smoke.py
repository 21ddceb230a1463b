"""bench_remote runs end to end on three episodes (skipped without moto, s3fs or aiohttp): every row's remote
values pass the check against the local file."""

from __future__ import annotations

import pytest

pytest.importorskip("moto.server")
pytest.importorskip("s3fs")
pytest.importorskip("aiohttp")


def test_bench_remote_runs(tmp_path):
    from bench import bench_remote

    r = bench_remote.run(3, 2, tmp_path)
    servers = ("range HTTP", "moto S3") + (("s3rver S3",) if bench_remote.s3rver_command() else ())
    assert {(x["server"], x["camera"]) for x in r["rows"]} == {(s, c) for s in servers
                                                                for c in ("none", "lz4", "jpeg")}
    assert all(x["open_requests"] <= 3 and x["remote_cold"] > 0 for x in r["rows"])
    assert "cache cold" in bench_remote.report(r)
