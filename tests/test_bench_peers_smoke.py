"""bench_peers and bench_cold run end to end on a tiny dataset: every loader present passes its value check
against the source arrays (robomimic, kinodb and LeRobot rows appear only where they are installed)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("h5py")  # bench_peers writes the robomimic HDF5 copy; both come with kinonb[bench]

from bench import bench_cold, bench_peers  # noqa: E402


def test_bench_peers_runs_and_checks_every_loader(tmp_path):
    src = bench_peers.synthetic_source(3, 40, 7, 32)
    src.actions[1], src.states[1] = src.actions[1][:25], src.states[1][:25]  # episodes of different lengths
    r = bench_peers.run(src, samples=256, lerobot_python="", tmp=tmp_path)
    assert r["samples"] == 105
    loaders = {row["loader"] for row in r["rows"]}
    assert {"kinonb Loader (threads)", "kinonb KinoDataset"} <= loaders
    assert all(row["samples"] > 0 and row["samples_per_s"] > 0 for row in r["rows"])
    assert {row["regime"] for row in r["rows"]} == {"warm", "cold"}
    assert "LeRobot skipped" in " ".join(r["notes"])
    assert "kinonb Loader" in bench_peers.report(r)


def test_bench_cold_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_cold, "first_batch_s", lambda kind, path, cold: 0.0)  # spares three interpreters
    r = bench_cold.run(episodes=4, frames=30, tmp=tmp_path)
    assert r["epochs"]["kinonb Loader, warm"]["samples"] == 4 * 30
    assert "Cold first epoch" in bench_cold.report(r)
