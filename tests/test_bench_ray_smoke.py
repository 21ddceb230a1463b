"""bench_ray runs end to end on three episodes (skipped without ray, or where Ray cannot start): both rows read
the same window samples through read_knb and through read_parquet of their Parquet copy (the bench asserts
it), at rates above zero; and through ray.data.read_lerobot where its Python 3.12 interpreter is there (else the
row says "not run", as in CI)."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")


def test_bench_ray_runs(tmp_path):
    from bench import bench_ray

    try:
        started = bench_ray.start_ray(2)
    except Exception as e:  # noqa: BLE001 - no Ray runtime here (sandbox, no shared memory): skip, not fail
        pytest.skip(f"ray.init failed: {e}")
    try:
        r = bench_ray.run(3, 1, tmp_path, cameras=(None, "lz4"))
    finally:
        if started:
            ray.shutdown()
    assert [x["camera"] for x in r["rows"]] == ["none", "lz4"]
    assert all(x["rows"] > 0 and x["knb"] > 0 and x["parquet"] > 0 for x in r["rows"])
    text = bench_ray.report(r)
    assert "read_parquet" in text and "read_lerobot:" in text
    assert all((x["lerobot"] is None) == (r["lerobot"] != "ran") for x in r["rows"])


def test_lerobot_peer_absent_is_not_run(monkeypatch):
    from bench import bench_ray

    monkeypatch.setenv(bench_ray.LEROBOT_PYTHON, "/nonexistent/python3.12")
    python, why = bench_ray.lerobot_python()
    assert python is None and why.startswith("not run:")
    row = {"camera": "none", "rows": 1, "knb_mb": 1.0, "parquet_mb": 1.0, "knb": 2.0, "parquet": 1.0, "jit_s": 0.0,
           "knb_first_pass_s": 0.0, "lerobot": None}
    text = bench_ray.report({"episodes": 1, "cpus": 2, "batch": 256, "runs": 1, "rows": [row], "lerobot": why})
    assert "| not run | 2.00x | - |" in text and f"read_lerobot: {why}" in text
