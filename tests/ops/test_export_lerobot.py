"""export --format lerobot: a LeRobot v3.0 directory whose parquet and mp4 hold the .knb's values; LeRobot's own
LeRobotDataset loads it with equal values when a Python with lerobot is given (KINONB_LEROBOT_PYTHON, or
/work/venv312/bin/python); otherwise that part skips."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kinonb
from kinonb.ops.export import export
from kinonb.testing import assert_same as same

pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("PIL")


def make_knb(path, n=3):
    rng = np.random.default_rng(0)
    with kinonb.create(path) as w:
        for e in range(n):
            t = 5 + e
            w.add_episode(actions=rng.normal(size=(t, 3)).astype(np.float32),
                          states=rng.normal(size=(t, 2)).astype(np.float32),
                          images={"cam": rng.integers(0, 255, (t, 6, 8, 3), dtype=np.uint8)},
                          task=f"task {e % 2}", embodiment="koch", fps=10)
    return kinonb.open(path)


def test_export_lerobot_layout_and_values(tmp_path):
    db = make_knb(tmp_path / "a.knb")
    report = export(tmp_path / "a.knb", tmp_path / "lr", format="lerobot")
    assert report.episodes == 3 and report.frames == 18
    info = json.loads((tmp_path / "lr" / "meta" / "info.json").read_text())
    assert info["codebase_version"] == "v3.0" and info["total_episodes"] == 3 and info["fps"] == 10.0
    assert info["features"]["cam"]["dtype"] == "image"
    data = pq.read_table(tmp_path / "lr" / "data" / "chunk-000" / "file-000.parquet")
    eps = pq.read_table(tmp_path / "lr" / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    from PIL import Image
    import io
    for i, row in enumerate(eps):
        ep = db.read_episode(i)
        rows = data.slice(row["dataset_from_index"], row["length"])
        same(np.array(rows.column("action").to_pylist(), np.float32), ep["actions"])
        same(np.array(rows.column("observation.state").to_pylist(), np.float32), ep["states"])
        imgs = np.stack([np.asarray(Image.open(io.BytesIO(c["bytes"]))) for c in rows.column("cam").to_pylist()])
        same(imgs, ep["images"]["cam"])
        assert row["tasks"] == [ep["meta"]["task"]]


def lerobot_python():
    exe = os.environ.get("KINONB_LEROBOT_PYTHON") or "/work/venv312/bin/python"
    if not Path(exe).is_file():
        pytest.skip("no Python with lerobot (set KINONB_LEROBOT_PYTHON)")
    ok = subprocess.run([exe, "-c", "from lerobot.datasets.lerobot_dataset import LeRobotDataset"],
                        capture_output=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if ok.returncode:
        pytest.skip(f"{exe} cannot import lerobot: {ok.stderr.decode()[-300:]}")
    return exe


CHECK = """
import json, sys, numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset
ds = LeRobotDataset(repo_id="local/x", root=sys.argv[1])
out = {"len": len(ds), "episodes": ds.num_episodes, "action": [ds[i]["action"].tolist() for i in range(len(ds))],
       "cam": [(ds[i]["cam"].numpy() * 255).round().astype(int).tolist() for i in (0, len(ds) - 1)]}
print(json.dumps(out))
"""


def test_lerobot_loads_the_export(tmp_path):
    exe = lerobot_python()
    db = make_knb(tmp_path / "a.knb")
    export(tmp_path / "a.knb", tmp_path / "lr", format="lerobot")
    r = subprocess.run([exe, "-c", CHECK, str(tmp_path / "lr")], capture_output=True, text=True,
                       env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    actions = np.concatenate([db.read_episode(i)["actions"] for i in range(len(db))])
    assert got["len"] == 18 and got["episodes"] == 3
    same(np.array(got["action"], np.float32), actions)
    first = db.read_episode(0)["images"]["cam"][0]
    assert np.array_equal(np.array(got["cam"][0]).transpose(1, 2, 0), first)  # CHW float in [0, 1]
