"""merge, mixtures and export (knb -> kdb, knb -> knb)."""

import numpy as np
import pytest

import kinonb
from kinonb.cli import create_test_episode
from kinonb.example import synthetic_episode
from kinonb.interop import KdbDatabase
from kinonb.interop.ingest import IngestWarning
from kinonb.ops.export import export, export_kdb
from kinonb.ops.merge import merge
from kinonb.ops.mixture import mixture, parse_source, sample_mixture

pytestmark = pytest.mark.filterwarnings("ignore::kinonb.interop.ingest.IngestWarning")


def write(path, n, *, seed=0, compression=None, images=True, extra=False, start_id=None):
    rng = np.random.default_rng(seed)
    with kinonb.create(path, compression=compression) as w:
        for i in range(n):
            ep = synthetic_episode(rng, i, images=images)
            if extra:
                ep["columns"] = {"force": rng.normal(size=(len(ep["actions"]), 3))}
            if start_id is not None:
                ep["episode_id"] = start_id + i
            w.add_episode(**ep)
    return path


def assert_same_episode(got, want, *, same_id=True):
    gm, wm = dict(got["meta"]), dict(want["meta"])
    if not same_id:
        gm.pop("episode_id"), wm.pop("episode_id")
    assert gm == wm
    for key in ("actions", "states", "rewards", "is_terminal", *want["meta"]["columns"]):
        assert np.array_equal(got[key], want[key]) and got[key].dtype == want[key].dtype
    assert list(got["images"]) == list(want["images"])
    for cam in want["images"]:
        assert np.array_equal(got["images"][cam], want["images"][cam])


@pytest.mark.parametrize("name, n, frames, images", [("create_test_small", 20, 50, False),
                                                     ("create_test_images_raw", 4, 20, True)])
def test_create_test_episodes_are_kinodbs(datasets_dir, tmp_path, name, n, frames, images):
    """`kinonb create-test` writes kinodb's create-test values: exported, they give kinodb's file byte for byte."""
    ref = datasets_dir / "kinodb_reference" / f"{name}.kdb"
    if not ref.is_file():
        pytest.skip(f"{ref} is absent")
    with kinonb.create(tmp_path / "t.knb") as w:
        for i in range(n):
            w.add_episode(**create_test_episode(i, frames, images))
    export_kdb(tmp_path / "t.knb", tmp_path / "t.kdb", created_timestamp=KdbDatabase(ref).header()["created_timestamp"])
    assert (tmp_path / "t.kdb").read_bytes() == ref.read_bytes()


def test_merge_renumbers_and_copies_everything(tmp_path):
    a = write(tmp_path / "a.knb", 5, seed=1, compression="lz4", extra=True)
    b = write(tmp_path / "b.knb", 4, seed=2, extra=True)
    report = merge([a, b], tmp_path / "m.knb")
    m, da, db_ = kinonb.open(tmp_path / "m.knb"), kinonb.open(a), kinonb.open(b)
    assert report.episodes == len(m) == 9 and report.frames == da.num_frames() + db_.num_frames()
    assert [m.read_meta(i)["episode_id"] for i in range(9)] == list(range(9))
    assert {c["name"]: c["codec"] for c in m.schema()}["top"] == "lz4"  # an input used lz4
    for i in range(5):
        assert_same_episode(m.read_episode(i), da.read_episode(i), same_id=False)
    for i in range(4):
        assert_same_episode(m.read_episode(5 + i), db_.read_episode(i), same_id=False)
    assert report.inputs == [{"path": str(a), "episodes": 5, "selected": 5}, {"path": str(b), "episodes": 4, "selected": 4}]


def test_merge_filter_keep_ids_and_errors(tmp_path):
    a = write(tmp_path / "a.knb", 6, seed=1)
    b = write(tmp_path / "b.knb", 6, seed=2, start_id=100)
    report = merge([a, b], tmp_path / "m.knb", filter="success = true", keep_ids=True, compression="none")
    m = kinonb.open(tmp_path / "m.knb")
    want = [i for i in range(6) if i % 3] + [100 + i for i in range(6) if i % 3]
    assert [m.read_meta(i)["episode_id"] for i in range(len(m))] == want and not report.renumbered
    assert all(c["codec"] == "raw" for c in m.schema())
    with pytest.raises(kinonb.SchemaError, match=r"episode id 0 of .*a.knb \(position 0\) is also in .*a.knb"):
        merge([a, a], tmp_path / "n.knb", keep_ids=True)
    assert not (tmp_path / "n.knb").exists()
    c = write(tmp_path / "c.knb", 2, seed=3, images=False)
    with kinonb.append(c) as w:
        w.add_episode(np.zeros((3, 2), np.float32), columns={"top": np.zeros((3, 2), np.float32)})
    with pytest.raises(kinonb.SchemaError, match=r"c.knb episode 2: top: already a camera column"):
        merge([a, c], tmp_path / "n.knb")
    with pytest.raises(ValueError, match="also an input"):
        merge([a, b], a)
    with pytest.raises(kinonb.QueryError):
        merge([a], tmp_path / "q.knb", filter="success ==")


def test_merge_reads_kdb_inputs(datasets_dir, tmp_path):
    ref = datasets_dir / "kinodb_reference" / "create_test_small.kdb"
    if not ref.is_file():
        pytest.skip(f"{ref} is absent")
    with kinonb.create(tmp_path / "a.knb") as w:
        w.add_episode(**create_test_episode(0, 7))
    merge([tmp_path / "a.knb", ref], tmp_path / "m.knb", filter="embodiment = 'widowx'")
    m = kinonb.open(tmp_path / "m.knb")
    assert len(m) == 1 + 5 and m.read_meta(1)["task"] == KdbDatabase(ref).read_meta(0)["task"]


def test_export_knb_changes_compression_and_filters(tmp_path):
    a = write(tmp_path / "a.knb", 6, seed=4, extra=True)
    report = export(a, tmp_path / "z.knb", format="knb", compression="lz4", filter="num_frames > 30")
    z, da = kinonb.open(tmp_path / "z.knb"), kinonb.open(a)
    keep = da.query("num_frames > 30")
    assert report.episodes == len(z) == len(keep)
    for k, i in enumerate(keep):
        assert_same_episode(z.read_episode(k), da.read_episode(i))  # ids kept
    assert {c["name"]: c["codec"] for c in z.schema()}["top"] == "lz4"


def test_export_kdb_reports_what_kdb_cannot_hold(tmp_path):
    a = write(tmp_path / "a.knb", 3, seed=5, extra=True)
    with pytest.warns(IngestWarning) as caught:
        report = export_kdb(a, tmp_path / "a.kdb", keep_episode_ids=True)
    assert report.skipped == ["column 'force': .kdb has no extra columns", "episode attrs: .kdb has no attrs"]
    assert len(caught) == 2
    back, src = KdbDatabase(tmp_path / "a.kdb"), kinonb.open(a)
    for i in range(3):
        got, want = back.read_episode(i), src.read_episode(i)
        for key in ("actions", "states", "rewards", "is_terminal"):
            assert np.array_equal(got[key], want[key])
        assert np.array_equal(got["images"]["top"], want["images"]["top"])
        m = {k: want["meta"][k] for k in ("episode_id", "embodiment", "task", "fps", "success", "total_reward")}
        assert {k: got["meta"][k] for k in m} == m
    with pytest.raises(FileExistsError, match="overwrite"):
        export_kdb(a, tmp_path / "a.kdb")
    with kinonb.create(tmp_path / "bare.knb") as w:
        w.add_episode(np.ones((4, 2), np.float32))
    report = export_kdb(tmp_path / "bare.knb", tmp_path / "bare.kdb")
    assert any("no rewards: written as 0.0" in n for n in report.notes)
    ep = KdbDatabase(tmp_path / "bare.kdb").read_episode(0)
    assert ep["rewards"].tolist() == [0.0] * 4 and ep["meta"]["total_reward"] is None and ep["states"].shape == (4, 0)


def test_mixture_plan_and_seeded_sample(tmp_path):
    a = write(tmp_path / "a.knb", 5, images=False)
    b = write(tmp_path / "b.knb", 20, seed=1, images=False)
    assert parse_source(f"{a}:0.4") == (str(a), 0.4) and parse_source(str(a)) == (str(a), 1.0)
    assert parse_source("C:/data/x.knb") == ("C:/data/x.knb", 1.0)
    with pytest.raises(ValueError, match="not a number"):
        parse_source("a.knb:heavy")
    with pytest.raises(ValueError, match=">= 0"):
        parse_source("a.knb:-1")
    plan = mixture([(str(a), 2.0), (str(b), 6.0)])
    assert [p["share"] for p in plan] == [0.25, 0.75] and [p["episodes"] for p in plan] == [5, 20]
    pairs, counts = sample_mixture(plan, 4000, seed=7)
    again, _ = sample_mixture(plan, 4000, seed=7)
    assert np.array_equal(pairs, again) and counts.sum() == 4000
    assert abs(counts[0] / 4000 - 0.25) < 0.03
    assert pairs[pairs[:, 0] == 0, 1].max() < 5 and pairs[pairs[:, 0] == 1, 1].max() < 20
    assert len(np.unique(pairs[pairs[:, 0] == 1, 1])) == 20
    with pytest.raises(ValueError, match="sum to 0"):
        mixture([(str(a), 0.0)])
    with kinonb.create(tmp_path / "empty.knb"):
        pass
    with pytest.raises(ValueError, match="has no episodes"):
        mixture([(str(tmp_path / "empty.knb"), 1.0)])
