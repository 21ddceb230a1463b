"""DataLoader workers survive a parent that already ran kernels, and exit cleanly (issue: fork after OpenMP).

Each case runs in a fresh interpreter, so that what the parent process has started (threads, pools) is exactly
what the case did, and so that an abort (SIGABRT from a native runtime) is seen as an exit status, not a hang.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import kinonb

pytest.importorskip("torch")

SCRIPT = """
import sys
import numpy as np
import torch
from torch.utils.data import DataLoader
from kinonb.torch import KinoDataset

path, context, persistent = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
ds = KinoDataset(path, windows={{"actions": range(4), "top": [0]}}, image_size=(24, 24))
{parent}
loader = DataLoader(ds, batch_size=16, shuffle=True, num_workers=2, multiprocessing_context=context,
                    persistent_workers=persistent)
for epoch in range(2):
    seen = 0
    for batch in loader:
        assert batch["top"].shape[1:] == (1, 3, 24, 24) and batch["top"].dtype == torch.float32
        seen += len(batch["actions"])
    assert seen == len(ds), (seen, len(ds))
print("ok", len(ds))
"""

PARENTS = {
    "image batch with resize": "ds.__getitems__(list(range(64)))",
    "a num_workers=0 pass first": "sum(1 for _ in DataLoader(ds, batch_size=32))",
    "parallel lz4 and resize kernels directly": (
        "import kinonb\n"
        "db = kinonb.open(path)\n"
        "index = db.sample_index({'top': range(8)})\n"
        "index.read(np.arange(64), image_size=(48, 48), layout='CHW', normalize=True)"
    ),
}


@pytest.fixture(scope="module")
def image_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fork") / "images.knb"
    rng = np.random.default_rng(0)
    with kinonb.create(path, compression="lz4") as w:
        for _ in range(6):
            w.add_episode(actions=rng.standard_normal((30, 3)).astype(np.float32),
                          images={"top": rng.integers(0, 256, (30, 40, 40, 3), dtype=np.uint8)})
    return path


def run_case(path, parent: str, context: str, persistent: bool):
    code = textwrap.dedent(SCRIPT.format(parent=parent))
    return subprocess.run([sys.executable, "-c", code, str(path), context, "1" if persistent else "0"],
                          capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize("parent", sorted(PARENTS))
@pytest.mark.parametrize("persistent", [False, True], ids=["workers", "persistent"])
def test_fork_workers_after_kernels_in_parent(image_file, parent, persistent):
    done = run_case(image_file, PARENTS[parent], "fork", persistent)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("ok 180")
    assert "OpenMP" not in done.stderr and "exited unexpectedly" not in done.stderr


def test_spawn_workers_exit_cleanly(image_file):
    done = run_case(image_file, PARENTS["image batch with resize"], "spawn", False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith("ok 180")
    assert "terminate called" not in done.stderr
