""".kdb files whose episodes have different action_dim / state_dim (state_dim 0 included) convert to .knb and
back with every read unchanged: files from kinonb's write_kdb here, and files real kinodb writes (``kino merge``)
and reads back (its Python bindings) in the opt-in peer tests, which skip when ../shared/peers is absent."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kinonb
from kinonb.cli import main
from kinonb.interop import KdbDatabase, write_kdb
from kinonb.interop.ingest.kdb import ingest_kdb
from kinonb.ops.export import export_kdb
from kinonb.testing import assert_same

ARRAYS = ("actions", "states", "rewards", "is_terminal")
STAMP = 1_700_000_000
# (action_dim, state_dim) per episode: the first has no states, widths change both ways, state_dim 0 comes back.
MIXED = [(3, 0), (1, 2), (5, 0), (3, 4), (2, 2), (3, 0)]
QUERIES = ["action_dim = 3", "action_dim = 1", "action_dim > 2", "action_dim != 3", "num_frames > 5",
           "success = true", "action_dim = 3 AND success = false", "task CONTAINS 'drawer'", "action_dim = 0"]


def mixed_episodes(dims=MIXED, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i, (a, s) in enumerate(dims):
        t = 3 + i
        out.append({"meta": {"task": ["open the drawer", "stack"][i % 2], "embodiment": "franka", "fps": 10.0,
                             "success": [None, True, False][i % 3], "total_reward": None if i % 3 == 0 else 0.5 * i},
                    "actions": rng.normal(size=(t, a)).astype(np.float32),
                    "states": rng.normal(size=(t, s)).astype(np.float32),
                    "rewards": rng.random(t).astype(np.float32), "is_terminal": np.arange(t) == t - 1})
    return out


def assert_same_reads(got: KdbDatabase, want: KdbDatabase):
    assert len(got) == len(want) and got.num_frames() == want.num_frames() and got.summary() == want.summary()
    for i in range(len(want)):
        g, w = got.read_episode(i), want.read_episode(i)
        assert g["meta"] == w["meta"], i
        for key in ARRAYS:
            assert_same(g[key], w[key])
        assert set(g["images"]) == set(w["images"])
        for cam, frames in w["images"].items():
            assert_same(g["images"][cam], frames)
    assert [got.query(q) for q in QUERIES] == [want.query(q) for q in QUERIES]


@pytest.mark.parametrize("dims", [MIXED, [(2, 0)] * 3, [(0, 3), (4, 0)]], ids=["mixed", "state_dim_0", "dims_0"])
def test_kdb_to_knb_to_kdb_gives_back_the_file(tmp_path, dims):
    src = tmp_path / "x.kdb"
    write_kdb(src, mixed_episodes(dims), created_timestamp=STAMP)
    ingest_kdb(src, tmp_path / "x.knb")
    db = kinonb.open(tmp_path / "x.knb")
    assert [(db.read_meta(i)["action_dim"], db.read_meta(i)["state_dim"]) for i in range(len(db))] == dims
    for i, (a, s) in enumerate(dims):
        ep = db.read_episode(i)
        assert ep["actions"].shape[1:] == (a,) and ep["states"].shape[1:] == (s,)  # state_dim 0: (T, 0), as kinodb
    varies = {c["name"]: c.get("shape_varies", False) for c in db.schema()}
    assert varies["actions"] == (len({a for a, _ in dims}) > 1) and varies["states"] == (len({s for _, s in dims}) > 1)
    report = export_kdb(tmp_path / "x.knb", tmp_path / "y.kdb", created_timestamp=STAMP)
    assert not report.skipped and not any("float32" in n for n in report.notes)
    assert (tmp_path / "y.kdb").read_bytes() == src.read_bytes()
    assert_same_reads(KdbDatabase(tmp_path / "y.kdb"), KdbDatabase(src))


def test_kql_uses_each_episodes_own_dims(tmp_path):
    write_kdb(tmp_path / "x.kdb", mixed_episodes())
    ingest_kdb(tmp_path / "x.kdb", tmp_path / "x.knb")
    kdb, knb = KdbDatabase(tmp_path / "x.kdb"), kinonb.open(tmp_path / "x.knb")
    for q in QUERIES + ["state_dim = 0", "state_dim > 1 AND action_dim < 3"]:
        assert knb.query(q) == kdb.query(q), q
    assert knb.query("action_dim = 3") == [i for i, (a, _) in enumerate(MIXED) if a == 3] == [0, 3, 5]
    assert knb.query("state_dim = 0") == [0, 2, 5]


def test_cli_ingest_then_export(tmp_path):
    src = tmp_path / "x.kdb"
    write_kdb(src, mixed_episodes())
    assert main(["ingest", str(src), "-o", str(tmp_path / "x.knb")]) == 0
    assert main(["export", str(tmp_path / "x.knb"), "--format", "kdb", "-o", str(tmp_path / "y.kdb")]) == 0
    assert_same_reads(KdbDatabase(tmp_path / "y.kdb"), KdbDatabase(src))
    a, b = src.read_bytes(), (tmp_path / "y.kdb").read_bytes()
    assert a[:40] + a[48:] == b[:40] + b[48:]  # all but created_timestamp


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_export_writes_float32_and_says_so(tmp_path, dtype):
    rng = np.random.default_rng(1)
    eps = [{"actions": rng.normal(size=(4, a)).astype(dtype), "states": rng.normal(size=(4, 2)).astype(dtype)}
           for a in (2, 5)]
    with kinonb.create(tmp_path / "f.knb") as w:
        for ep in eps:
            w.add_episode(**ep)
    report = export_kdb(tmp_path / "f.knb", tmp_path / "f.kdb")
    kdb = KdbDatabase(tmp_path / "f.kdb")
    for i, ep in enumerate(eps):
        got = kdb.read_episode(i)
        assert_same(got["actions"], ep["actions"].astype(np.float32))
        assert_same(got["states"], ep["states"].astype(np.float32))
    assert [kdb.read_meta(i)["action_dim"] for i in range(2)] == [2, 5]
    casts = [n for n in report.notes if "written as float32" in n]
    name = np.dtype(dtype).name
    assert casts[0].startswith(f"actions: {name} in 2 episodes") and casts[1].startswith(f"states: {name} in 2")
    if dtype == np.float16:
        assert all("exact, no value changed" in n for n in casts)
    else:
        assert "28 of 28 values rounded" in casts[0]


def test_export_of_format_1_1_episodes(tmp_path):
    """No actions -> action_dim 0; T+1 states lose their final row; timestamps / episode arrays are reported."""
    with kinonb.create(tmp_path / "f.knb") as w:
        w.add_episode(actions=np.ones((3, 2), np.float32), states=np.arange(8, dtype=np.float32).reshape(4, 2),
                      timestamps=np.arange(3.0), episode_arrays={"init": np.zeros(5)})
        w.add_episode(states=np.ones((2, 3), np.float32), rewards=np.ones(2, np.float32))
    with pytest.warns(kinonb.IngestWarning):
        report = export_kdb(tmp_path / "f.knb", tmp_path / "f.kdb")
    kdb = KdbDatabase(tmp_path / "f.kdb")
    assert_same(kdb.read_episode(0)["states"], np.arange(6, dtype=np.float32).reshape(3, 2))
    assert kdb.read_episode(1)["actions"].shape == (2, 0) and kdb.query("action_dim = 0") == [1]
    assert kinonb.open(tmp_path / "f.knb").query("action_dim = 0") == [1]
    assert any(s.startswith("timestamps:") for s in report.skipped)
    assert any(s.startswith("episode array 'init':") for s in report.skipped)
    assert any(s.startswith("states' final observation") for s in report.skipped)
    assert any(n.startswith("1 episodes have no actions") for n in report.notes)


# ---- opt-in: real kinodb (../shared/peers/kinodb) writes the mixed files and reads our export ---------------

SHARED = Path(__file__).resolve().parents[2].parent / "shared"  # as tests/conftest.py finds it
PEER = SHARED / "peers" / "kinodb"

KINODB_READS = r"""
import json, sys
import numpy as np
import kinodb

def arr(x):
    x = np.asarray(x)
    return [str(x.dtype), list(x.shape), x.tobytes().hex()]

out = []
for path in sys.argv[2:]:
    db = kinodb.open(path)
    eps = []
    for i in range(len(db)):
        ep = db.read_episode(i)
        eps.append({"meta": db.read_meta(i), "arrays": {k: arr(ep[k]) for k in ("actions", "states", "rewards",
                    "is_terminal")}, "images": {k: arr(v) for k, v in (ep.get("images") or {}).items()},
                    "actions_only": arr(db.read_episode_actions_only(i)["actions"])})
    queries = {}
    for q in json.loads(sys.argv[1]):
        try:
            queries[q] = db.query(q)
        except Exception as e:
            queries[q] = {"error": str(e)}
    out.append({"len": len(db), "num_frames": db.num_frames(), "summary": db.summary(), "episodes": eps,
                "queries": queries})
print(json.dumps(out))
"""


@pytest.fixture(scope="session")
def kinodb_peer(tmp_path_factory):
    """(kino CLI path, env whose PYTHONPATH holds kinodb's wheel, installed into a temp dir); skips without it."""
    wheels = sorted(PEER.glob("kinodb-*.whl")) if PEER.is_dir() else []
    kino = PEER / "kino"
    if not wheels or not kino.is_file():
        pytest.skip(f"{PEER} has no kinodb wheel and kino CLI (a fresh clone has no ../shared)")
    target = tmp_path_factory.mktemp("kinodb_site")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target",
                        str(target), str(wheels[-1])], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"could not install {wheels[-1].name}: {r.stderr[-500:]}")
    return kino, {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}


def kinodb_reads(peer, *paths):
    _, env = peer
    r = subprocess.run([sys.executable, "-c", KINODB_READS, json.dumps(QUERIES + ["state_dim = 0"]),
                        *map(str, paths)], capture_output=True, text=True, env=env, check=True)
    return json.loads(r.stdout)


def kino_merge(peer, out, *inputs):
    kino, _ = peer
    subprocess.run([str(kino), "merge", *map(str, inputs), "-o", str(out)], capture_output=True, check=True)
    return out


def test_kinodb_written_mixed_dims_round_trip(tmp_path, kinodb_peer):
    """kinodb writes mixed dims (state_dim 0 included); kinonb reads them as kinodb does, ingests and exports
    them, and kinodb's own reads of the export equal its reads of its file."""
    write_kdb(tmp_path / "a.kdb", mixed_episodes())
    write_kdb(tmp_path / "b.kdb", mixed_episodes([(2, 0), (6, 1)], seed=3))
    inputs = [tmp_path / "a.kdb", tmp_path / "b.kdb"]
    ref = SHARED / "datasets" / "kinodb_reference" / "create_test_small.kdb"
    if ref.is_file():
        inputs.append(ref)  # kinodb's own synthetic episodes (6 / 7) after ours
    src = kino_merge(kinodb_peer, tmp_path / "kinodb.kdb", *inputs)
    want = kinodb_reads(kinodb_peer, src)[0]
    ours = KdbDatabase(src)
    for i, ep in enumerate(want["episodes"]):  # kinonb's reader agrees with kinodb's on kinodb's file
        assert {k: ours.read_meta(i)[k] for k in ep["meta"]} == ep["meta"]
        got = ours.read_episode(i)
        for key in ARRAYS:
            a = np.asarray(got[key])
            assert [str(a.dtype), list(a.shape), a.tobytes().hex()] == ep["arrays"][key], (i, key)
    assert want["episodes"][0]["arrays"]["states"][:2] == ["float32", [3, 0]]  # state_dim 0: kinodb reads (T, 0)
    assert main(["ingest", str(src), "-o", str(tmp_path / "x.knb")]) == 0
    assert main(["export", str(tmp_path / "x.knb"), "--format", "kdb", "-o", str(tmp_path / "y.kdb")]) == 0
    assert kinodb_reads(kinodb_peer, tmp_path / "y.kdb")[0] == want
    export_kdb(tmp_path / "x.knb", tmp_path / "z.kdb", created_timestamp=ours.header()["created_timestamp"])
    assert (tmp_path / "z.kdb").read_bytes() == src.read_bytes()  # kinonb writes kinodb's bytes


def test_kinodb_reads_exported_float64_mixed_knb(tmp_path, kinodb_peer):
    """A native .knb with per-episode widths and float64 actions exports to a .kdb kinodb reads with each
    episode's own action_dim; its KQL positions equal the .knb's."""
    rng = np.random.default_rng(2)
    dims = [3, 1, 3, 6]
    with kinonb.create(tmp_path / "m.knb") as w:
        for i, a in enumerate(dims):
            w.add_episode(actions=rng.normal(size=(4 + i, a)), success=bool(i % 2), task="open the drawer")
    export_kdb(tmp_path / "m.knb", tmp_path / "m.kdb")
    got = kinodb_reads(kinodb_peer, tmp_path / "m.kdb")[0]
    db = kinonb.open(tmp_path / "m.knb")
    assert [ep["meta"]["action_dim"] for ep in got["episodes"]] == dims
    for i, ep in enumerate(got["episodes"]):
        want = db.read_episode(i)["actions"].astype(np.float32)
        assert ep["arrays"]["actions"] == ["float32", list(want.shape), want.tobytes().hex()]
        assert ep["arrays"]["states"][:2] == ["float32", [4 + i, 0]]
    for q in QUERIES:
        if isinstance(got["queries"][q], list):
            assert db.query(q) == got["queries"][q], q
