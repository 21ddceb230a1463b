"""Hostile format 1.1 files: forged block_shapes rows (issue 13 req 9). Not collected by a plain ``pytest`` run:
``tests/store/test_hostile_1_1.py`` runs this module in a child process capped at 4 GiB of address space (the
runner of ``test_hostile.py``), and the module caps itself further once warmed up.

Each case starts from a small valid 1.1 file (per-episode widths, T + 1 states, a stream, an episode array,
cameras of per-episode resolutions, raw or lz4) and appends a forged commit whose checksums are all valid
(``forge_commit``). Targeted forgeries (a wrong frame count, a huge dim, a nonzero row for an absent block, a
shape past ndim, a camera with 0 or 5 channels) must be *refused*: ``validate(deep=True)`` reports an error, and
``open`` or else ``read_episode``, ``frames`` and ``sample_index`` raise a ``kinonb.FormatError``. Random rows
go through ``hostile_cases.exercise`` (a result or a FormatError, never a crash or a forged-size allocation).
"""

from __future__ import annotations

import resource
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hostile_cases import EDGES, EXAMPLES, HEADROOM, SETTINGS, exercise
from hypothesis import given, settings
from hypothesis import strategies as st

import kinonb
from kinonb.testing import forge_commit

WORK = Path(tempfile.mkdtemp(prefix="kinonb-hostile-1-1-"))
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
U64 = 2**64


def _base_bytes(compression) -> bytes:
    path = WORK / f"base-{compression}.knb"
    rng = np.random.default_rng(1)
    with kinonb.create(path, compression=compression, sync=False) as w:
        for i in range(4):
            t = 2 + i
            ep = dict(actions=rng.standard_normal((t, 1 + i % 3)).astype(np.float32),
                      states=rng.standard_normal((t + i % 2, 2)), task=f"task {i}",
                      images={"top": rng.integers(0, 256, (t, 2 + i, 3, 3), dtype=np.uint8)},
                      streams={"imu": (np.arange(3 * i, dtype=np.float64), np.ones((3 * i, 2), np.float32))},
                      episode_arrays={"q": np.arange(i + 1, dtype=np.float64)})
            if i == 2:
                del ep["images"]  # an absent camera block: its block_shapes row must stay zero
            w.add_episode(**ep)
            if i == 1:
                w.commit()
    return path.read_bytes()


BASES = {"raw": _base_bytes(None), "lz4": _base_bytes("lz4")}
_counter = iter(range(10**9))


def _fresh(kind: str) -> Path:
    path = WORK / f"case{next(_counter)}.knb"
    path.write_bytes(BASES[kind])
    return path


def _col(f, name: str) -> int:
    return next(i for i, c in enumerate(f.columns) if c.name == name)


def _set(episode: int, name: str, num_frames=None, dims=None):
    """A mutation setting one block_shapes row (dims: {axis: value})."""
    def m(f):
        row = f.block_shapes[episode, _col(f, name)]
        if num_frames is not None:
            row["num_frames"] = num_frames
        for axis, value in (dims or {}).items():
            row["shape"][axis] = value
    return m


#: name -> mutation; every one must be refused. Episode 1 holds 3 frames: actions (3, 2), states (4, 2) (a final
#: observation), top (3, 3, 3, 3), imu (3, 2), q (2,). Episode 2 has no camera.
FORGED = {
    "actions frame count != T": _set(1, "actions", num_frames=4),
    "actions frame count 0": _set(1, "actions", num_frames=0),
    "states frame count off by one": _set(1, "states", num_frames=3),
    "states frame count past MAX_FRAMES": _set(1, "states", num_frames=2**40),
    "stream frame count near 2**64": _set(1, "imu", num_frames=U64 - 1),
    "stream frame count +1": _set(1, "imu", num_frames=4),
    "camera frame count != T": _set(1, "top", num_frames=2),
    "episode array frame count 2": _set(1, "q", num_frames=2),
    "huge action width": _set(1, "actions", dims={0: 2**40}),
    "action width near 2**64": _set(1, "actions", dims={0: U64 - 1}),
    "width x frames overflows 64 bits": _set(1, "states", num_frames=2**33, dims={0: 2**31}),
    "huge camera": _set(1, "top", dims={0: 2**31, 1: 2**31}),
    "huge episode array": _set(1, "q", dims={0: 2**62}),
    "absent block with frames": _set(2, "top", num_frames=3),
    "absent block with a shape": _set(2, "top", dims={0: 1}),
    "shape past ndim (actions)": _set(1, "actions", dims={1: 1}),
    "shape past ndim (camera)": _set(1, "top", dims={3: 7}),
    "camera with 0 channels": _set(1, "top", dims={2: 0}),
    "camera with 5 channels": _set(1, "top", dims={2: 5}),
    "camera with height 0": _set(1, "top", dims={0: 0}),
    "width 0 with bytes": _set(1, "actions", dims={0: 0}),
}


def _refused(fn, *args) -> bool:
    try:
        fn(*args)
    except kinonb.FormatError:
        return True
    return False


def assert_refused(path: Path) -> None:
    report = kinonb.validate(path, deep=True)
    assert not report.ok, "validate(deep=True) accepted a forged block_shapes row"
    try:
        db = kinonb.open(path)
    except kinonb.FormatError:
        return
    assert db.ignored_bytes == 0, "the forged commit was not the one opened"
    assert _refused(db.read_episode, 1), "read_episode accepted a forged block_shapes row"
    for key in ("actions", "states", "imu", "q"):
        assert _refused(db.frames, 1, key), f"frames({key!r}) accepted a forged block_shapes row"
    for windows in ({"actions": [0]}, {"states": [-1, 0]}):
        assert _refused(lambda: db.sample_index(windows).read(np.arange(2))), f"sample_index({windows})"


@pytest.mark.parametrize("kind", sorted(BASES))
@pytest.mark.parametrize("case", sorted(FORGED))
def test_forged_block_shapes_refused(kind, case):
    path = _fresh(kind)
    forge_commit(path, FORGED[case])
    assert_refused(path)
    path.unlink()


@st.composite
def row_mutations(draw):
    """Random values in random block_shapes cells: edges near 2**k and small counts."""
    value = st.sampled_from(EDGES) | st.integers(0, 16)
    cells = draw(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 20), st.integers(-1, 3), value),
                          min_size=1, max_size=4))

    def m(f):
        for e, c, axis, v in cells:
            row = f.block_shapes[e % len(f.block_shapes), c % f.block_shapes.shape[1]]
            if axis < 0:
                row["num_frames"] = v
            else:
                row["shape"][axis] = v
    return m


@settings(SETTINGS, max_examples=max(1, EXAMPLES // 3))  # each example runs every reader entry point
@given(kind=st.sampled_from(sorted(BASES)), mutation=row_mutations())
def test_random_block_shapes_never_crash(kind, mutation):
    path = _fresh(kind)
    forge_commit(path, mutation)
    exercise(path)


def test_bases_are_valid():
    for kind in BASES:
        path = _fresh(kind)
        assert kinonb.validate(path, deep=True).ok
        assert kinonb.open(path).version() == "1.1"


@pytest.fixture(autouse=True, scope="module")
def _address_space_cap():
    """After a warm-up, cap the address space at its size + HEADROOM: a forged-size allocation fails."""
    for kind in BASES:
        exercise(_fresh(kind))
        path = _fresh(kind)
        forge_commit(path, FORGED["huge camera"])
        exercise(path)
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    old = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm + HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (cap if old[0] == resource.RLIM_INFINITY else min(cap, old[0]), old[1]))
    yield
    resource.setrlimit(resource.RLIMIT_AS, old)
