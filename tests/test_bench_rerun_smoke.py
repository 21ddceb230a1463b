"""bench_rerun runs end to end on three episodes, workers 0 only (skipped without rerun-sdk and datafusion): every
Rerun and kinonb loader passes its first-batch value check against the source arrays."""

from __future__ import annotations

import pytest

pytest.importorskip("rerun")
pytest.importorskip("datafusion")
pytest.importorskip("PIL")
pytest.importorskip("torch")


def test_bench_rerun_runs_and_checks_every_loader(tmp_path):
    from bench import bench_rerun

    r = bench_rerun.run(3, 128, tmp_path, workers=(0,))
    names = {name for row in r["rows"] for name in row["cells"]}
    assert {"Rerun RerunMapDataset", "Rerun RerunIterableDataset", "kinonb KinoDataset", "kinonb Loader"} <= names
    assert all(c["samples"] > 0 and c["samples_per_s"] > 0 for row in r["rows"] for c in row["cells"].values())
    assert r["bytes"]["rrd"] > 0 and "RerunMapDataset" in bench_rerun.report(r)
