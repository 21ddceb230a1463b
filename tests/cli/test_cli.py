"""The kinonb command line: every command, its --help, its --json output and its exit status (0 / 1 / 2)."""

import json
import subprocess
import sys

import numpy as np
import pytest

import kinonb
from kinonb import cli
from kinonb.cli import bench as cli_bench
from kinonb.cli import main
from kinonb.cli import output as cli_output

COMMANDS = ["create-test", "info", "schema", "validate", "query", "merge", "mix", "ingest", "export", "bench"]


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def run_json(capsys, *argv):
    rc, out, err = run(capsys, *argv, "--json")
    assert rc == 0, err
    return json.loads(out)


@pytest.fixture
def demo(tmp_path, capsys):
    path = tmp_path / "demo.knb"
    assert run(capsys, "create-test", path, "-n", 12, "--frames", 30, "--images", "--compress", "lz4")[0] == 0
    return path


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(capsys, command):
    rc, out, _ = run(capsys, command, "--help")
    assert rc == 0
    assert "example:" in out and f"kinonb {command}" in out


def test_top_level_help_version_and_missing_command(capsys):
    rc, out, _ = run(capsys, "--help")
    assert rc == 0 and all(c in out for c in COMMANDS)
    assert run(capsys, "--version")[1].startswith("kinonb ")
    rc, _, err = run(capsys)
    assert rc == 2 and "a command is required" in err
    assert run(capsys, "frobnicate")[0] == 2


def test_create_test_info_schema(capsys, demo, tmp_path):
    rc, out, _ = run(capsys, "create-test", tmp_path / "q.knb", "--quiet")
    assert rc == 0 and out == ""  # --quiet: no informational line
    info = run_json(capsys, "info", demo, "--episodes")
    assert (info["format"], info["num_episodes"], info["num_frames"], info["cameras"]) == ("knb", 12, 360, ["front", "wrist"])
    assert [e["episode_id"] for e in info["episodes"]] == list(range(12))
    assert info["episodes"][1]["embodiment"] == "franka" and info["episodes"][0]["success"] is False
    schema = run_json(capsys, "schema", demo)
    assert [(c["name"], c["codec"]) for c in schema] == [("actions", "raw"), ("states", "raw"), ("rewards", "raw"),
                                                        ("is_terminal", "raw"), ("front", "lz4"), ("wrist", "lz4")]
    rc, out, _ = run(capsys, "info", demo, "--episodes")
    assert rc == 0 and "episodes: 12" in out and "open the drawer" in out
    rc, out, _ = run(capsys, "schema", demo)
    assert "front" in out and "(64, 64, 3)" in out
    seeded = tmp_path / "s.knb"
    run(capsys, "create-test", seeded, "-n", 2, "--frames", 5, "--seed", 3)
    assert not np.array_equal(kinonb.open(seeded).read_episode(0)["states"], kinonb.open(demo).read_episode(0)["states"][:5])


def test_query(capsys, demo):
    out = run_json(capsys, "query", demo, "success = true AND embodiment = franka", "--limit", 2)
    assert out["count"] == 2 and out["positions"] == [1, 5] and [e["episode_id"] for e in out["episodes"]] == [1, 5]
    rc, text, _ = run(capsys, "query", demo, "num_frames > 25")
    assert rc == 0 and text.startswith("12 of 12 episodes match")
    rc, out, err = run(capsys, "query", demo, "success = = true")
    assert rc == 2 and out == "" and err.count("\n") == 1 and "position 10" in err and "Traceback" not in err


def test_validate_deep_repair_and_failure(capsys, demo):
    report = run_json(capsys, "validate", demo, "--deep")
    assert report["ok"] and report["deep"] and report["blocks_checked"] == 12 * 6 and report["nan_count"]["actions"] == 0
    size = demo.stat().st_size
    with open(demo, "ab") as f:
        f.write(b"torn append" * 10)  # an append that died before its trailer
    report = run_json(capsys, "validate", demo)
    assert report["ok"] and report["ignored_bytes"] == 110 and report["warnings"]
    report = run_json(capsys, "validate", demo, "--repair")
    assert report["repaired_bytes"] == 110 and report["ignored_bytes"] == 0 and demo.stat().st_size == size
    rc, out, _ = run(capsys, "validate", demo, "--repair")
    assert rc == 0 and out.startswith("PASSED")
    # flip a byte inside episode 0's actions block: only --deep reads it
    db = kinonb.open(demo)
    first = int(db._index.blocks[0, 0]["offset"])
    data = bytearray(demo.read_bytes())
    data[first] ^= 0xFF
    demo.write_bytes(bytes(data))
    assert run(capsys, "validate", demo)[0] == 0
    rc, out, err = run(capsys, "validate", demo, "--deep")
    assert rc == 1 and "FAILED" in out and "CRC-32" in out and err.count("\n") == 1


def test_data_problems_exit_1_with_one_line(capsys, tmp_path):
    rc, out, err = run(capsys, "info", tmp_path / "missing.knb")
    assert rc == 1 and out == "" and err == f"kinonb info: error: {tmp_path / 'missing.knb'}: No such file or directory\n"
    (tmp_path / "junk.knb").write_bytes(b"not a kinonb file at all" * 4)
    rc, _, err = run(capsys, "schema", tmp_path / "junk.knb")
    assert rc == 1 and err.count("\n") == 1 and "expected a .knb" in err and "Traceback" not in err
    rc, _, err = run(capsys, "schema", tmp_path / "junk.knb", "--debug")
    assert rc == 1 and "Traceback" in err and "BadMagicError" in err
    assert run(capsys, "--debug", "schema", tmp_path / "junk.knb")[2].count("Traceback") == 1
    rc, _, err = run(capsys, "validate", tmp_path / "junk.knb", "--json")
    assert rc == 1 and "FAILED" in err


def test_usage_errors_exit_2(capsys, demo, tmp_path):
    cases = [
        ("query", demo),  # the query is missing
        ("create-test", tmp_path / "x.knb", "--frames", 0),
        ("ingest", demo, "-o", tmp_path / "x.knb", "--format", "parquet"),
        ("ingest", demo, "-o", tmp_path / "x.knb", "--map", "actions"),
        ("ingest", demo, "-o", tmp_path / "x.knb", "--format", "zarr", "--split", "train"),
        ("mix", "--source", f"{demo}:heavy"),
        ("export", demo, "-o", tmp_path / "x.kdb", "--compress", "lz4"),
        ("export", demo, "-o", tmp_path / "x.knb", "--format", "knb", "--timestamp", 5),
        ("merge", demo, "-o", demo),
        ("validate", "--deep"),
    ]
    for argv in cases:
        rc, out, err = run(capsys, *argv)
        assert rc == 2, (argv, err)
        assert out == ""


def test_merge_mix_export_ingest(capsys, demo, tmp_path, datasets_dir):
    out = run_json(capsys, "merge", demo, demo, "-o", tmp_path / "m.knb", "--filter", "success = true")
    assert out["episodes"] == 16 and out["renumbered"] and [i["selected"] for i in out["inputs"]] == [8, 8]
    rc, _, err = run(capsys, "merge", demo, demo, "-o", tmp_path / "n.knb", "--keep-ids")
    assert rc == 1 and "episode id 0" in err and not (tmp_path / "n.knb").exists()

    mix = run_json(capsys, "mix", "--source", f"{demo}:0.4", "--source", f"{tmp_path / 'm.knb'}:0.6",
                   "--sample", 500, "--seed", 3, "--list")
    assert [s["share"] for s in mix["sources"]] == pytest.approx([0.4, 0.6])
    assert sum(mix["sample"]["counts"]) == 500 and len(mix["sample"]["pairs"]) == 500
    assert mix == run_json(capsys, "mix", "--source", f"{demo}:0.4", "--source", f"{tmp_path / 'm.knb'}:0.6",
                           "--sample", 500, "--seed", 3, "--list")
    rc, text, _ = run(capsys, "mix", "--source", f"{demo}:2", "--source", f"{tmp_path / 'm.knb'}:2")
    assert rc == 0 and "0.500" in text

    ex = run_json(capsys, "export", demo, "-o", tmp_path / "d.kdb", "--timestamp", 1234)
    assert ex["episodes"] == 12 and ex["frames"] == 360
    from kinonb.interop import KdbDatabase

    assert KdbDatabase(tmp_path / "d.kdb").header()["created_timestamp"] == 1234
    rc, _, err = run(capsys, "export", demo, "-o", tmp_path / "d.kdb")
    assert rc == 1 and "exists" in err

    rep = run_json(capsys, "ingest", tmp_path / "d.kdb", "-o", tmp_path / "back.knb", "--embodiment", "bot")
    assert (rep["format"], rep["episodes"], rep["cameras"]) == ("kdb", 12, ["front", "wrist"])
    back = kinonb.open(tmp_path / "back.knb")
    assert back.read_meta(3)["embodiment"] == "bot"
    assert np.array_equal(back.read_episode(3)["images"]["wrist"], kinonb.open(demo).read_episode(3)["images"]["wrist"])

    src = datasets_dir / "lerobot_v30_so101_record_test"
    if src.is_dir():
        rc, out, err = run(capsys, "ingest", src, "-o", tmp_path / "lr.knb", "--max-episodes", 2, "--json")
        assert rc == 0 and json.loads(out)["episodes"] == 2
        # the two video cameras' mp4 is absent: reported per episode and camera
        assert err.count("kinonb: warning:") == 4 and err.count("is missing") == 4


def test_create_test_on_an_existing_file_names_the_option(capsys, demo):
    rc, out, err = run(capsys, "create-test", demo)
    assert rc == 1 and out == ""
    assert err == f"kinonb create-test: error: {demo} exists; pass --overwrite to replace it\n"
    assert run(capsys, "create-test", demo, "-n", 2, "--overwrite")[0] == 0
    assert kinonb.open(demo).num_episodes() == 2


def test_mix_sample_prints_a_summary_unless_list(capsys, demo):
    sources = ("--source", f"{demo}:1", "--source", f"{demo}:3")
    for n in (500, 5000):
        mix = run_json(capsys, "mix", *sources, "--sample", n, "--seed", 1)
        assert set(mix["sample"]) == {"n", "seed", "counts", "distinct_episodes"}  # no per-draw list
        assert (mix["sample"]["n"], mix["sample"]["seed"], sum(mix["sample"]["counts"])) == (n, 1, n)
        assert all(0 < d <= 12 for d in mix["sample"]["distinct_episodes"])
    full = run_json(capsys, "mix", *sources, "--sample", 5000, "--seed", 1, "--list")
    pairs = np.array(full["sample"]["pairs"])
    assert pairs.shape == (5000, 2) and np.bincount(pairs[:, 0]).tolist() == mix["sample"]["counts"]
    assert {k: v for k, v in full["sample"].items() if k != "pairs"} == mix["sample"]
    rc, text, _ = run(capsys, "mix", *sources, "--sample", 7)
    assert rc == 0 and "7 (source, episode) pairs" in text and "draws in order" not in text
    rc, text, _ = run(capsys, "mix", *sources, "--sample", 7, "--list")
    listed = text.split("draws in order (source position, episode position):\n")[1].splitlines()
    assert rc == 0 and len(listed) == 7 and all(len(line.split()) == 2 for line in listed)
    rc, out, err = run(capsys, "mix", *sources, "--list")
    assert rc == 2 and out == "" and "--sample" in err


def test_progress_bars_only_on_a_terminal(monkeypatch):
    args = cli.build_parser().parse_args(["validate", "x.knb", "--deep"])
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert cli_output._progress(args, "validate") is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    pytest.importorskip("tqdm")
    bar = cli_output._progress(args, "validate")
    assert bar is not None and list(bar(range(3))) == [0, 1, 2]
    args = cli.build_parser().parse_args(["validate", "x.knb", "--deep", "--quiet"])
    assert cli_output._progress(args, "validate") is None


def test_bench_hook(capfd, monkeypatch, tmp_path):
    monkeypatch.setattr(cli_bench, "BENCH_ROOT", tmp_path)
    monkeypatch.setattr(cli_bench, "_installed_module", lambda: None, raising=False)
    monkeypatch.setattr(cli_bench, "BENCH_DEPS", (), raising=False)
    assert main(["bench"]) == 1 and "not available" in capfd.readouterr().err
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "run.py").write_text("import sys\nprint('BENCH TABLE', sys.argv[1:])\n")
    rc = main(["bench", "--", "--episodes", "10"])
    assert rc == 0 and "BENCH TABLE ['--episodes', '10']" in capfd.readouterr().out
    rc = main(["bench", "--quick", "--publish"])  # as the README says: options after bench go to the benchmark
    assert rc == 0 and "BENCH TABLE ['--quick', '--publish']" in capfd.readouterr().out


def test_python_dash_m_kinonb(demo):
    proc = subprocess.run([sys.executable, "-m", "kinonb", "info", str(demo), "--json"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["num_episodes"] == 12
