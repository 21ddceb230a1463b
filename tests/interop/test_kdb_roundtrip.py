"""write_kdb reproduces kinodb's bytes; KdbDatabase rejects malformed files with the specific FormatError."""

import io
import struct
import sys
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kinonb.errors import (
    BadMagicError,
    CorruptFieldError,
    FormatError,
    OffsetError,
    OverlapError,
    SchemaError,
    TruncatedFileError,
    UnsupportedVersionError,
)
from kinonb.interop import KdbDatabase, write_kdb
from kinonb.interop import kdb_layout as L

REF = ["create_test_small", "create_test_images_raw", "robomimic_lift_scripted", "pusht_images"]
ARRAYS = ("actions", "states", "rewards", "is_terminal")


def ref_path(datasets_dir, name):
    path = datasets_dir / "kinodb_reference" / f"{name}.kdb"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


def episodes_of(db):
    return (db.read_episode(i) for i in range(len(db)))


def assert_same_episode(got, want):
    assert got["meta"] == want["meta"]
    for key in ARRAYS:
        assert got[key].dtype == want[key].dtype and got[key].shape == want[key].shape
        assert got[key].tobytes() == want[key].tobytes()
    assert list(got["images"]) == list(want["images"])
    for cam, arr in want["images"].items():
        assert got["images"][cam].shape == arr.shape and np.array_equal(got["images"][cam], arr)


# ---- byte compatibility with kinodb's writer --------------------------------------------------------


@pytest.mark.parametrize("name", REF)
def test_rewriting_a_reference_file_reproduces_its_bytes(datasets_dir, tmp_path, name):
    src = ref_path(datasets_dir, name)
    db = KdbDatabase(src)
    out = tmp_path / "out.kdb"
    assert write_kdb(out, episodes_of(db), created_timestamp=db.header()["created_timestamp"]) == len(db)
    assert out.read_bytes() == src.read_bytes()
    back = KdbDatabase(out)
    for i in range(len(db)):
        assert_same_episode(back.read_episode(i), db.read_episode(i))


def test_default_timestamp_is_the_only_difference(datasets_dir, tmp_path):
    src = ref_path(datasets_dir, "create_test_small")
    out = tmp_path / "out.kdb"
    before = int(time.time())
    write_kdb(out, episodes_of(KdbDatabase(src)))
    a, b = src.read_bytes(), out.read_bytes()
    assert a[:40] == b[:40] and a[48:] == b[48:]
    assert before <= KdbDatabase(out).header()["created_timestamp"] <= int(time.time())


def test_jpeg_reference_rewrites_as_the_raw_reference_layout(datasets_dir, tmp_path):
    """kinonb writes raw images only, so the JPEG file cannot come back byte for byte. kinodb wrote the raw and
    JPEG files from the same synthetic episodes: rewriting the decoded JPEG file must give the raw file's bytes
    everywhere except the timestamp and the pixel payloads."""
    jpeg = KdbDatabase(ref_path(datasets_dir, "create_test_images_jpeg"))
    raw_path = ref_path(datasets_dir, "create_test_images_raw")
    raw = KdbDatabase(raw_path)
    out = tmp_path / "out.kdb"
    write_kdb(out, episodes_of(jpeg), created_timestamp=raw.header()["created_timestamp"])
    a, b = bytearray(raw_path.read_bytes()), bytearray(out.read_bytes())
    assert len(a) == len(b)
    for i, entry in enumerate(raw.index()):
        for frame in raw._section.records(i, entry):
            for r in frame:
                a[r.data_offset : r.data_offset + r.data_len] = b[r.data_offset : r.data_offset + r.data_len]
    assert a == b
    back = KdbDatabase(out)
    for i in range(len(jpeg)):
        assert_same_episode(back.read_episode(i), jpeg.read_episode(i))


# ---- hand-built files ---------------------------------------------------------------------------------


def meta_blob(embodiment="e", task="t", fps=10.0, success=2, reward=1.0):
    e, t = embodiment.encode(), task.encode()
    tail = b"" if reward is None else struct.pack("<f", reward)
    return struct.pack("<H", len(e)) + e + struct.pack("<H", len(t)) + t + struct.pack("<fBB", fps, success,
                                                                                      reward is not None) + tail


def image_section(frames):
    """frames: per frame a list of (name, width, height, channels, format, payload)."""
    out = bytearray()
    for cams in frames:
        out += struct.pack("<H", len(cams))
        for name, w, h, c, fmt, payload in cams:
            out += struct.pack("<H", len(name.encode())) + name.encode()
            out += L.IMAGE_RECORD_HEAD.pack(w, h, c, fmt, len(payload)) + payload
    return bytes(out)


def assemble(path, images, T=None, meta=None, *, S=1, A=2):
    """A one-episode .kdb whose image section is ``images`` (bytes)."""
    T = T if T is not None else 1
    low = np.zeros(T, L.lowdim_frame_dtype(S, A))
    low["action"] = np.arange(T * A, dtype=np.float32).reshape(T, A)
    blob, lowb = meta or meta_blob(), low.tobytes()
    entry = np.zeros(1, L.INDEX_ENTRY_DTYPE)
    entry["num_frames"], entry["action_dim"], entry["state_dim"] = T, A, S
    entry["meta_offset"], entry["meta_length"] = 64, len(blob)
    entry["actions_offset"], entry["actions_length"] = 64 + len(blob), len(lowb)
    entry["images_offset"], entry["images_length"] = 64 + len(blob) + len(lowb), len(images)
    header = np.zeros((), L.HEADER_DTYPE)
    header["magic"], header["version_major"], header["version_minor"] = L.MAGIC, 0, 1
    header["num_episodes"], header["num_frames"] = 1, T
    header["index_offset"], header["index_length"] = 64 + len(blob) + len(lowb) + len(images), 64
    path.write_bytes(header.tobytes() + blob + lowb + images + entry.tobytes())
    return KdbDatabase(path)


def encode(pixels, fmt, **kw):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels).save(buf, format=fmt, **kw)
    return buf.getvalue()


def pixels(h, w, c, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


@pytest.mark.parametrize("c", [1, 3, 4])
def test_png_payloads_are_decoded_exactly(tmp_path, c):
    frames = [pixels(5, 7, c, seed=t) for t in range(3)]
    sec = image_section([[("cam", 7, 5, c, 1, encode(p, "PNG"))] for p in frames])
    ep = assemble(tmp_path / "png.kdb", sec, T=3).read_episode(0)
    assert np.array_equal(ep["images"]["cam"], np.stack(frames))


def test_jpeg_payloads_decode_like_pillow(tmp_path):
    from PIL import Image

    src = np.broadcast_to(np.linspace(0, 255, 16, dtype=np.uint8)[None, :, None], (8, 16, 3)).copy()
    payload = encode(src, "JPEG", quality=90)
    ep = assemble(tmp_path / "jpg.kdb", image_section([[("c", 16, 8, 3, 1, payload)]])).read_episode(0)
    assert np.array_equal(ep["images"]["c"][0], np.asarray(Image.open(io.BytesIO(payload)).convert("RGB")))
    assert np.abs(ep["images"]["c"][0].astype(int) - src).max() <= 8


def test_missing_pillow_is_a_clear_import_error(tmp_path, monkeypatch):
    db = assemble(tmp_path / "png.kdb", image_section([[("c", 2, 2, 3, 1, encode(pixels(2, 2, 3), "PNG"))]]))
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"kinonb\[images\]"):
        db.read_episode(0)
    assert db.read_episode_actions_only(0)["actions"].shape == (1, 2)


@pytest.mark.parametrize(
    "frames, match",
    [
        ([[("c", 2, 2, 3, 1, b"\xff\xd8\xffgarbage")]], "JPEG/PNG"),
        ([[("c", 2, 2, 3, 1, b"not an image")]], "JPEG/PNG"),
        ([[("c", 3, 2, 3, 1, "png 2x2")]], "JPEG/PNG"),  # PNG size differs from the record's
        ([[("c", 2, 2, 3, 7, bytes(12))]], "format"),
        ([[("c", 2, 2, 3, 0, bytes(11))]], "raw bytes"),
        ([[("c", 2, 2, 3, 0, bytes(12))], []], "every camera"),
        ([[("c", 2, 2, 3, 0, bytes(12))], [("c", 1, 1, 3, 0, bytes(3))]], "HxWxC"),
        ([[("c", 1, 1, 1, 0, b"x"), ("c", 1, 1, 1, 0, b"y")]], "distinct"),
        ([[("\x7f", 1, 1, 1, 0, b"x")]], "utf-8"),  # the name byte is replaced by 0xff below
    ],
)
def test_bad_image_records_raise_corrupt_field(tmp_path, frames, match):
    png = encode(pixels(2, 2, 3), "PNG")
    frames = [[(n, w, h, c, f, png if p == "png 2x2" else p) for n, w, h, c, f, p in cams] for cams in frames]
    sec = image_section(frames).replace(b"\x01\x00\x7f", b"\x01\x00\xff")
    db = assemble(tmp_path / "bad.kdb", sec, T=len(frames))
    with pytest.raises(CorruptFieldError, match=match) as err:
        db.read_episode(0)
    assert err.value.path == str(tmp_path / "bad.kdb") and isinstance(err.value.offset, int)
    if match != "utf-8":  # a bad frame-0 camera name also breaks meta["cameras"]; the rest is pixel-level
        db.read_episode_actions_only(0)


def test_image_record_running_past_its_section(tmp_path):
    sec = image_section([[("c", 2, 2, 3, 0, bytes(12))]])[:-1]
    with pytest.raises(OffsetError):
        assemble(tmp_path / "short.kdb", sec).read_episode(0)


# ---- malformed header and index ---------------------------------------------------------------------


@pytest.fixture
def small(tmp_path):
    eps = [
        {"meta": {"embodiment": "arm", "task": "pick", "fps": 5.0, "success": True, "total_reward": 2.5},
         "actions": np.ones((3, 2), np.float32), "states": np.zeros((3, 1), np.float32)},
        {"meta": {"embodiment": "arm", "task": "place", "fps": 5.0, "success": None, "total_reward": None},
         "actions": np.ones((2, 2), np.float32)},
    ]
    path = tmp_path / "small.kdb"
    write_kdb(path, eps, created_timestamp=1)
    return path


def patch(path, offset, fmt, value):
    data = bytearray(path.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    path.write_bytes(bytes(data))


def entry_field(path, episode, field):
    index_offset = KdbDatabase(path).header()["index_offset"]
    return index_offset + 64 * episode + L.INDEX_ENTRY_DTYPE.fields[field][1]


def test_small_file_reads(small):
    db = KdbDatabase(small)
    assert db.read_meta(1)["success"] is None and db.read_meta(1)["total_reward"] is None
    assert db.read_episode(0)["states"].shape == (3, 1) and db.read_episode(1)["states"].shape == (2, 0)


def test_bad_magic(small):
    patch(small, 0, "4s", b"KIN0")
    with pytest.raises(BadMagicError) as err:
        KdbDatabase(small)
    assert err.value.offset == 0 and str(small) in str(err.value)


def test_newer_major_version(small):
    patch(small, 4, "<H", 1)
    with pytest.raises(UnsupportedVersionError):
        KdbDatabase(small)


def test_newer_minor_version_is_read(small):
    patch(small, 6, "<H", 7)
    assert KdbDatabase(small).version() == "0.7"


@pytest.mark.parametrize("keep", [0, 10, 63, -1, -64])
def test_truncated_file(small, keep):
    data = small.read_bytes()
    small.write_bytes(data[:keep] if keep >= 0 else data[:keep])
    with pytest.raises(TruncatedFileError):
        KdbDatabase(small)


def test_index_pointing_past_the_end(small):
    patch(small, 24, "<Q", small.stat().st_size + 64)
    with pytest.raises(OffsetError):
        KdbDatabase(small)


@pytest.mark.parametrize("field", ["actions_length", "images_length", "meta_length"])
def test_entry_length_overflow(small, field):
    offset_field_at = entry_field(small, 1, field.replace("length", "offset"))
    patch(small, entry_field(small, 1, field), "<Q", 2**64 - 1)  # offset + length wraps u64
    with pytest.raises(OffsetError) as err:
        KdbDatabase(small)
    assert err.value.offset == offset_field_at


@pytest.mark.parametrize("field", ["actions_offset", "images_offset", "meta_offset"])
@pytest.mark.parametrize("value", [0, 2**64 - 1, 2**63])
def test_entry_offset_outside_data_region(small, field, value):
    patch(small, entry_field(small, 0, field), "<Q", value)
    with pytest.raises(OffsetError):
        KdbDatabase(small)


@pytest.mark.parametrize(
    "offset, fmt, value, match",
    [
        (8, "<Q", 3, "num_episodes"),
        (16, "<Q", 6, "num_frames"),
        (32, "<Q", 100, "multiple of 64"),
    ],
)
def test_header_counts_must_match_the_index(small, offset, fmt, value, match):
    patch(small, offset, fmt, value)
    with pytest.raises(CorruptFieldError, match=match):
        KdbDatabase(small)


def test_lowdim_length_must_match_dims(small):
    patch(small, entry_field(small, 0, "state_dim"), "<H", 2)
    with pytest.raises(CorruptFieldError, match="actions_length"):
        KdbDatabase(small)


def test_overlapping_sections(small):
    first_meta = KdbDatabase(small).index()["meta_offset"][0]
    patch(small, entry_field(small, 1, "meta_offset"), "<Q", int(first_meta))
    with pytest.raises(OverlapError):
        KdbDatabase(small)


# (offset in episode 0's meta blob, struct format, value, error text) of a bad meta blob
BAD_META = [
    (0, "<H", 0xFFFF, "embodiment length"),
    (2, "3s", b"\xff\xfe\xfd", "utf-8 embodiment"),
    (5, "<H", 0xFFFF, "task length"),
    (15, "<B", 3, "success"),
    (16, "<B", 2, "reward_present"),
]


@pytest.mark.parametrize("delta, fmt, value, match", BAD_META)
def test_bad_meta_blob(small, delta, fmt, value, match):
    patch(small, 64 + delta, fmt, value)  # episode 0's blob: u16 3 "arm" u16 4 "pick" f32 u8 u8 f32
    db = KdbDatabase(small)
    with pytest.raises(CorruptFieldError, match=match):
        db.read_meta(0)
    db.read_meta(1)


@pytest.mark.parametrize("delta, fmt, value, match", BAD_META)
@pytest.mark.parametrize("bad_episode", [0, 1])
def test_a_bad_meta_blob_fails_the_query_table_as_its_read_meta_does(small, delta, fmt, value, match, bad_episode):
    """The vectorised KQL table (interop/kdb_meta.py) raises exactly the error read_meta raises for the first
    bad episode, wherever it is."""
    blob = int(KdbDatabase(small).index()["meta_offset"][bad_episode])
    if bad_episode == 1:  # episode 1's blob: u16 3 "arm" u16 5 "place" f32 u8 u8
        delta = {0: 0, 2: 2, 5: 5, 15: 16, 16: 17}[delta]
    patch(small, blob + delta, fmt, value)
    db = KdbDatabase(small)
    with pytest.raises(CorruptFieldError, match=match) as want:
        db.read_meta(bad_episode)
    with pytest.raises(CorruptFieldError, match=match) as got:
        db.query("num_frames > 0")
    assert str(got.value) == str(want.value)


def test_the_query_table_equals_the_one_from_read_meta(datasets_dir):
    from kinonb.query import from_records

    paths = sorted((datasets_dir / "kinodb_reference").glob("*.kdb"))
    assert paths
    for path in paths:
        db = KdbDatabase(path)
        got, want = db.meta_table(), from_records(db.read_meta(i) for i in range(len(db)))
        for key in ("episode_id", "num_frames", "fps", "success", "total_reward", "has_reward", "action_dim",
                    "state_dim"):
            np.testing.assert_array_equal(getattr(got, key), getattr(want, key), err_msg=f"{path.name} {key}")
        for key in ("task_id", "embodiment_id"):
            assert [got.strings[i] for i in getattr(got, key)] == [want.strings[i] for i in getattr(want, key)]
        assert list(got.cameras) == list(want.cameras)
        for name in got.cameras:
            np.testing.assert_array_equal(got.cameras[name], want.cameras[name])


def test_errors_are_value_errors_naming_the_file(small):
    patch(small, 0, "4s", b"PK\x03\x04")
    with pytest.raises(ValueError) as err:
        KdbDatabase(small)
    assert isinstance(err.value, FormatError) and err.value.path == str(small)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        KdbDatabase(tmp_path / "nope.kdb")


# ---- writer refusals and options ----------------------------------------------------------------------


def one(T=2, **meta):
    return {"meta": {"embodiment": "e", "task": "t", "fps": 1.0, **meta}, "actions": np.zeros((T, 1), np.float32)}


def test_long_strings_are_refused_not_wrapped(tmp_path):
    out = tmp_path / "long.kdb"
    for field in ("embodiment", "task"):
        with pytest.raises(SchemaError, match="65535"):
            write_kdb(out, [one(**{field: "x" * 70_000})])
    ep = one()
    ep["images"] = {"é" * 40_000: np.zeros((2, 1, 1, 1), np.uint8)}
    with pytest.raises(SchemaError, match="camera name"):
        write_kdb(out, [ep])
    assert list(tmp_path.iterdir()) == []  # no partial file, no .tmp
    write_kdb(out, [one(task="ü" * 32_767 + "x")])  # 65,535 bytes: the largest that fits
    assert KdbDatabase(out).read_meta(0)["task"] == "ü" * 32_767 + "x"


def test_writer_refusals(tmp_path):
    out = tmp_path / "x.kdb"
    with pytest.raises(SchemaError, match="0 frames"):
        write_kdb(out, [one(T=0)])
    with pytest.raises(SchemaError, match="cameras"):
        write_kdb(out, [one(cameras=["front"])])  # read_episode_actions_only output: images missing
    with pytest.raises(SchemaError, match="action_dim"):
        write_kdb(out, [one(action_dim=3)])
    bad = one()
    bad["rewards"] = np.zeros(3, np.float32)
    with pytest.raises(SchemaError, match="rewards"):
        write_kdb(out, [bad])
    bad = one()
    bad["images"] = {"c": np.zeros((2, 1, 1, 3), np.float32)}
    with pytest.raises(SchemaError, match="uint8"):
        write_kdb(out, [bad])


def test_raw_pixels_with_jpeg_magic_stay_raw(tmp_path):
    ep = one(T=1)
    img = np.zeros((1, 2, 2, 3), np.uint8)
    img.reshape(-1)[:4] = [0xFF, 0xD8, 0xFF, 0xE0]
    ep["images"] = {"c": img}
    out = tmp_path / "magic.kdb"
    write_kdb(out, [ep])
    assert np.array_equal(KdbDatabase(out).read_episode(0)["images"]["c"], img)


def test_writer_is_deterministic_and_can_keep_ids(tmp_path):
    eps = [one(episode_id=41), one(episode_id=7)]
    a, b = tmp_path / "a.kdb", tmp_path / "b.kdb"
    write_kdb(a, eps, created_timestamp=5)
    write_kdb(b, eps, created_timestamp=5)
    assert a.read_bytes() == b.read_bytes()
    assert [KdbDatabase(a).read_meta(i)["episode_id"] for i in range(2)] == [0, 1]
    write_kdb(b, eps, keep_episode_ids=True)
    assert KdbDatabase(b).meta_columns()["episode_id"].tolist() == [41, 7]


def test_empty_file_round_trips(tmp_path):
    out = tmp_path / "empty.kdb"
    write_kdb(out, [])
    db = KdbDatabase(out)
    assert len(db) == 0 and db.num_frames() == 0 and db.summary() == "kinodb v0.1\n  Episodes: 0\n  Frames: 0"
    assert db.meta_columns()["num_frames"].shape == (0,)


# ---- hypothesis: arbitrary small episodes round-trip exactly -------------------------------------------

f32 = st.floats(width=32, allow_nan=False)


@st.composite
def episodes(draw):
    T = draw(st.integers(1, 50))
    S, A = draw(st.integers(0, 8)), draw(st.integers(0, 8))
    arr = lambda shape: draw(hnp.arrays(np.float32, shape, elements=st.floats(width=32)))  # noqa: E731
    names = draw(st.lists(st.text(max_size=6), max_size=2, unique=True))
    images = {}
    for name in names:
        shape = (T, draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.sampled_from([1, 3, 4])))
        images[name] = draw(hnp.arrays(np.uint8, shape))
    return {
        "meta": {
            "embodiment": draw(st.text(max_size=20)),
            "task": draw(st.text(max_size=40)),
            "fps": draw(f32),
            "success": draw(st.sampled_from([None, True, False])),
            "total_reward": draw(st.none() | f32),
        },
        "actions": arr((T, A)),
        "states": arr((T, S)),
        "rewards": arr((T,)),
        "is_terminal": draw(hnp.arrays(bool, (T,))),
        "images": images,
    }


@given(st.lists(episodes(), min_size=1, max_size=3))
def test_random_episodes_round_trip(tmp_path_factory, eps):
    out = tmp_path_factory.mktemp("hyp") / "ep.kdb"
    write_kdb(out, eps)
    db = KdbDatabase(out)
    assert len(db) == len(eps) and db.num_frames() == sum(len(e["actions"]) for e in eps)
    for i, ep in enumerate(eps):
        got = db.read_episode(i)
        want_meta = dict(ep["meta"], episode_id=i, num_frames=len(ep["actions"]), action_dim=ep["actions"].shape[1],
                         state_dim=ep["states"].shape[1], cameras=list(ep["images"]), columns=[], attrs={})
        assert got["meta"] == want_meta
        assert_same_episode(got, dict(ep, meta=want_meta))
