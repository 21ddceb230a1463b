"""Smoke test of the end-to-end benchmark (bench/run.py) at tiny sizes: it runs, writes every output, and every
loader feeds the BC loop the same data (identical loss curves). The figures themselves are not checked."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("torch")
pytest.importorskip("h5py")
pytest.importorskip("zarr")
pytest.importorskip("pyarrow")
pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    sys.path.insert(0, str(ROOT))
    from bench import run as bench_run

    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "results"
    argv = ["--quick", "--out", str(out), "--workdir", str(tmp), "--pusht-episodes", "2", "--episodes", "12",
            "--frames", "24", "--scaling", "50,200", "--batch", "16", "--steps", "3"]
    assert bench_run.main(argv) == 0
    return out, json.loads((out / "results.json").read_text())


def test_outputs_exist(run):
    out, _ = run
    for name in ("results.json", "results.md", "throughput.png", "data_share.png", "scaling.png"):
        assert (out / name).stat().st_size > 0, name
    assert not list(out.parent.glob("kinonb-bench-*")), "the datasets' temp dir was left behind"


def test_json_figures(run):
    _, res = run
    assert {"config", "machine", "datasets", "scaling", "notes", "wall_s", "phases_s"} <= set(res)
    assert {"cpu_model", "cores", "ram_bytes", "versions"} <= set(res["machine"])
    syn = res["datasets"]["synthetic"]
    loaders = syn["throughput"]["actions only"]["loaders"]
    for name in ("kinonb", "kinodb-API", "h5py (robomimic)", "zarr (diffusion_policy)", "parquet (LeRobot)",
                 "in-RAM numpy", "in-RAM torch"):
        r = loaders[name]
        assert r["warm"]["runs"] >= 5 and r["warm"]["min"] <= r["warm"]["median"] <= r["warm"]["max"]
        assert r["warm"]["kinonb_x"] > 0 and r["warm"]["of_ceiling"] > 0
        assert "first_batch_s" in r
    assert "cold" in loaders["kinonb"] and "cold" not in loaders["in-RAM numpy"]
    assert {"50", "200"} <= set(res["scaling"])
    assert res["scaling"]["200"]["queries"]["numeric"]["median_ms"] >= 0


def test_loss_curves_match(run):
    _, res = run
    for ds in res["datasets"].values():
        bc = ds["bc"]["cpu, in-process"]
        assert bc["loss_curves_identical"]
        curves = [r["losses"] for r in bc["loaders"].values()]
        assert len(curves) >= 7 and all(c == curves[0] for c in curves) and len(curves[0]) == 3
        for r in bc["loaders"].values():
            assert 0 <= r["data_share"] <= 1


@pytest.mark.slow
def test_quick_is_about_a_minute(tmp_path):
    """`--quick` as the README gives it (default quick sizes), in a fresh process: about a minute on 2 cores
    (the bench's own wall time; 149 s before the quick profile was cut, on the same machine under load)."""
    import subprocess

    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--out", str(out), "--workdir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["quick"] and res["wall_s"] < 100, res["phases_s"]
    assert not list(tmp_path.glob("kinonb-bench-*"))
