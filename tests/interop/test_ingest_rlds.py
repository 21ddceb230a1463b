"""RLDS TFRecord ingest without TensorFlow: the framing, the protobuf decoder, and every array of the Bridge
sample, cross-checked against the raw bytes by independent means (CRC-32C from google_crc32c, floats found
verbatim in the record, JPEGs found by their markers and decoded with Pillow)."""

import io
import re
import struct

import numpy as np
import pytest

import kinonb
from kinonb.errors import ChecksumError, CorruptFieldError, TruncatedFileError
from kinonb.interop.ingest import SourceLayoutError
from kinonb.interop.ingest.example_proto import parse_example
from kinonb.interop.ingest.rlds import ingest_rlds, list_shards
from kinonb.interop.ingest.tfrecord import crc32c_table, iter_records, masked_crc32c
from kinonb.testing import assert_same as same
from kinonb.testing import png
from kinonb.testing.proto import (
    encode_example,
    encode_feature,
    encode_record,
    field,
    varint_bytes,
)

Image = pytest.importorskip("PIL.Image")

pytestmark = pytest.mark.filterwarnings("ignore::kinonb.interop.ingest.IngestWarning")


@pytest.fixture(scope="module")
def bridge(datasets_dir):
    path = datasets_dir / "rlds_tfrecord_bridge_octo_debug" / "bridge_dataset" / "1.0.0"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


# ---- CRC-32C and the framing ----------------------------------------------------------------------------


def test_crc32c_known_vectors_and_google_crc32c():
    assert crc32c_table(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert crc32c_table(b"") == 0
    assert crc32c_table(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4: 32 bytes of zeros
    assert crc32c_table(bytes(range(32))) == 0x46DD794E  # RFC 3720 B.4: 0..31
    google_crc32c = pytest.importorskip("google_crc32c")
    data = np.random.default_rng(0).integers(0, 256, 100_003, dtype=np.uint8).tobytes()
    assert crc32c_table(data) == google_crc32c.value(data)


def test_records_without_google_crc32c(bridge, monkeypatch):
    """The core needs no google_crc32c: the Numba table kernel verifies the same records."""
    from kinonb.interop.ingest import tfrecord

    shard = bridge / "bridge_dataset-val.tfrecord-00000-of-00001"
    with_google = list(iter_records(shard))
    monkeypatch.setattr(tfrecord, "_google_crc32c", None)
    assert list(iter_records(shard)) == with_google
    assert masked_crc32c(b"abc") == ((((c := crc32c_table(b"abc")) >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def test_records_frame_checks(bridge, tmp_path):
    shard = bridge / "bridge_dataset-train.tfrecord-00000-of-00001"
    raw = shard.read_bytes()
    records = list(iter_records(shard))
    assert len(records) == 25
    # independent walk of the framing with struct, checking the stored CRCs with the table implementation
    pos = 0
    for offset, data in records:
        assert offset == pos
        (n,) = struct.unpack_from("<Q", raw, pos)
        crc = crc32c_table(raw[pos : pos + 8])
        assert struct.unpack_from("<I", raw, pos + 8)[0] == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
        assert raw[pos + 12 : pos + 12 + n] == data
        pos += 16 + n
    assert pos == len(raw)

    bad = bytearray(raw)
    bad[records[3][0] + 12 + 100] ^= 0x01
    (tmp_path / "bad").write_bytes(bad)
    with pytest.raises(ChecksumError, match=rf"at byte {records[3][0] + 12 + len(records[3][1])}: expected masked CRC-32C"):
        list(iter_records(tmp_path / "bad"))
    assert len(list(iter_records(tmp_path / "bad", verify=False))) == 25
    (tmp_path / "cut").write_bytes(raw[: records[5][0] + 40])
    with pytest.raises(TruncatedFileError, match=rf"at byte {records[5][0]}:.*not fully written"):
        list(iter_records(tmp_path / "cut"))
    assert encode_record(records[0][1]) == raw[: 16 + len(records[0][1])]


# ---- the protobuf decoder ---------------------------------------------------------------------------------


def test_example_round_trip_and_wire_details():
    features = {"f": np.array([1.5, -2.0], np.float32), "i": np.array([-1, 0, 2**40]), "b": [b"x", b"", "yz"]}
    parsed, lists = parse_example(encode_example(features))
    assert lists is None
    same(parsed["f"].value, features["f"])
    same(parsed["i"].value, np.array([-1, 0, 2**40], np.int64))  # a 10-byte varint is a negative int64
    assert parsed["b"].value == [b"x", b"", b"yz"]
    # unpacked floats (wire type 5) and an unknown field are accepted
    flist = field(2, b"".join(varint_bytes(1 << 3 | 5) + struct.pack("<f", v) for v in (1.0, 2.0)))
    entry = field(1, field(1, b"u") + field(2, flist)) + varint_bytes(9 << 3) + varint_bytes(7)
    same(parse_example(field(1, entry))[0]["u"].value, np.array([1.0, 2.0], np.float32))
    with pytest.raises(CorruptFieldError, match=r"at byte 0: expected field 1 of 65 bytes inside its message, found 62 bytes left"):
        parse_example(encode_example(features)[:-3])
    with pytest.raises(CorruptFieldError, match="wire type 0, 1, 2 or 5"):
        parse_example(varint_bytes(1 << 3 | 3))


def sequence_example(context: dict, steps: dict) -> bytes:
    lists = b"".join(field(1, field(1, k.encode()) + field(2, b"".join(field(1, encode_feature(v)) for v in vals)))
                     for k, vals in steps.items())
    ctx = b"".join(field(1, field(1, k.encode()) + field(2, encode_feature(v))) for k, v in context.items())
    return field(1, ctx) + field(2, lists)


# ---- the Bridge sample ---------------------------------------------------------------------------------------


def jpegs_by_markers(record: bytes) -> list:
    """Every JPEG in a record, found by its SOI / EOI markers (independent of the protobuf decoder)."""
    return [m.group(0) for m in re.finditer(rb"\xff\xd8\xff.*?\xff\xd9", record, re.S)]


def test_bridge_matches_the_records(bridge, tmp_path):
    out = tmp_path / "bridge.knb"
    # the dataset directory: newest version; transcode: decoded here with Pillow (JPEG bytes kept: test below)
    report = ingest_rlds(bridge.parent, out, transcode="lz4")
    db = kinonb.open(out)
    assert report.episodes == len(db) == 50 and db.num_frames() == 500
    assert report.cameras == ["image_0", "image_1", "image_2", "image_3"] and not report.skipped
    shards = list_shards(bridge)
    assert [s for s, _ in shards] == ["train", "val"]
    i = 0
    for split, path in shards:
        for offset, record in iter_records(path):
            feats, _ = parse_example(record)
            ep = db.read_episode(i)
            t = ep["meta"]["num_frames"]
            assert t == 10
            for key, name in (("steps/action", "actions"), ("steps/observation/state", "states")):
                want = feats[key].value.reshape(t, 7)
                same(ep[name], want)
                assert record.find(want.tobytes()) > 0  # the floats lie verbatim in the record
            same(ep["rewards"], feats["steps/reward"].value)
            same(ep["discount"], feats["steps/discount"].value)
            same(ep["language_embedding"], feats["steps/language_embedding"].value.reshape(t, 512))
            same(ep["is_terminal"], feats["steps/is_terminal"].value != 0)
            same(ep["is_first"], feats["steps/is_first"].value != 0)
            same(ep["is_first"], np.arange(t) == 0)
            same(ep["is_last"], feats["steps/is_last"].value != 0)
            task = feats["steps/language_instruction"].value[0].decode()
            assert ep["meta"]["task"] == task and record.find(task.encode()) > 0
            found = jpegs_by_markers(record)
            assert len(found) == 4 * t
            payloads = [p for k in range(4) for p in feats[f"steps/observation/image_{k}"].value]
            assert sorted(found) == sorted(payloads)
            for k in range(4):
                frames = [np.asarray(Image.open(io.BytesIO(p))) for p in feats[f"steps/observation/image_{k}"].value]
                same(ep["images"][f"image_{k}"], np.stack(frames))  # the same decoder: exact
            attrs = ep["meta"]["attrs"]
            assert attrs["split"] == split
            assert attrs["episode_id"] == int(feats["episode_metadata/episode_id"].value[0])
            assert attrs["file_path"] == feats["episode_metadata/file_path"].value[0].decode()
            assert attrs["has_language"] is True and ep["meta"]["total_reward"] == 0.0
            i += 1
    assert i == 50


def test_bridge_keeps_the_jpeg_bytes(bridge, tmp_path):
    pytest.importorskip("kinonb.codecs.encoded", reason="the JPEG codec (issue 14) is not in this tree")
    ingest_rlds(bridge, tmp_path / "o.knb", split="train", max_episodes=3)
    db = kinonb.open(tmp_path / "o.knb")
    for i, (_, record) in zip(range(3), iter_records(list_shards(bridge)[0][1])):
        feats, _ = parse_example(record)
        raw = db.read_episode(i, raw_frames=True)["images"]
        decoded = db.read_episode(i)["images"]
        for k in range(4):
            payloads = list(feats[f"steps/observation/image_{k}"].value)
            assert [bytes(f) for f in raw[f"image_{k}"].frames] == payloads  # the source's bytes, as they were
            assert decoded[f"image_{k}"].shape == (10, 64, 64, 3) and decoded[f"image_{k}"].dtype == np.uint8


def test_bridge_split_and_max_episodes(bridge, tmp_path):
    report = ingest_rlds(bridge, tmp_path / "o.knb", split="val", max_episodes=7, embodiment="widowx", fps=5,
                         transcode="raw")
    db = kinonb.open(tmp_path / "o.knb")
    assert report.episodes == len(db) == 7
    assert {db.read_meta(i)["attrs"]["split"] for i in range(7)} == {"val"}
    assert db.read_meta(0)["embodiment"] == "widowx" and db.read_meta(0)["fps"] == 5.0
    with pytest.raises(SourceLayoutError, match=r"shards <name>-test.tfrecord"):
        ingest_rlds(bridge, tmp_path / "p.knb", split="test")


def test_synthetic_rlds_without_features_json(tmp_path):
    """Dict actions (RT-1 style), PNG images, SequenceExample records and no features.json."""
    rng = np.random.default_rng(0)
    d = tmp_path / "ds" / "0.1.0"
    d.mkdir(parents=True)
    eps = []
    with open(d / "toy-train.tfrecord-00000-of-00001", "wb") as f:
        for e in range(3):
            t = 3 + e
            wv, rot = rng.normal(size=(t, 3)).astype(np.float32), rng.normal(size=(t, 3)).astype(np.float32)
            img = rng.integers(0, 256, (t, 4, 5, 3), dtype=np.uint8)
            feats = {"steps/action/world_vector": wv.reshape(-1), "steps/action/rotation_delta": rot.reshape(-1),
                     "steps/action/terminate": np.zeros(t, np.int64), "steps/is_first": (np.arange(t) == 0) * 1,
                     "steps/observation/wrist": [png(x) for x in img],
                     "steps/observation/natural_language_instruction": ["open"] * t,
                     "steps/observation/note": ["n"] * t, "episode_metadata/id": np.array([e])}
            if e == 2:  # the same episode as a SequenceExample: one Feature per step
                steps = {"steps/action/world_vector": list(wv), "steps/action/rotation_delta": list(rot),
                         "steps/is_first": [np.array([int(k == 0)]) for k in range(t)],
                         "steps/observation/wrist": [[png(x)] for x in img]}
                rec = sequence_example({"episode_metadata/id": np.array([e])}, steps)
            else:
                rec = encode_example(feats)
            f.write(encode_record(rec))
            eps.append((wv, rot, img))
    report = ingest_rlds(tmp_path / "ds", tmp_path / "o.knb")
    db = kinonb.open(tmp_path / "o.knb")
    assert len(db) == 3
    for e, (wv, rot, img) in enumerate(eps):
        ep = db.read_episode(e)
        same(ep["actions"], np.concatenate([rot, wv], axis=1))  # sorted keys: rotation_delta, world_vector
        same(ep["action/world_vector"], wv)
        same(ep["images"]["wrist"], img)
        same(ep["is_terminal"], np.arange(len(wv)) == len(wv) - 1)
        assert ep["meta"]["attrs"]["id"] == e
    assert db.read_meta(0)["task"] == "open"
    assert any(s.startswith("steps/observation/note") for s in report.skipped)
    assert any("rotation_delta, action/world_vector" in s for s in report.notes)


def test_layout_error_names_what_is_there(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(SourceLayoutError, match=r"expected an RLDS/TFDS directory.*found entries \['x.txt'\]"):
        ingest_rlds(tmp_path, tmp_path / "o.knb")
    with open(tmp_path / "a-train.tfrecord-00000-of-00001", "wb") as f:
        f.write(encode_record(encode_example({"steps/obs": np.zeros(3, np.float32), "steps/is_first": [1, 0, 0]})))
    with pytest.raises(SourceLayoutError, match=r"steps/action \(or steps/action/<key> parts\).*found step features"):
        ingest_rlds(tmp_path, tmp_path / "o.knb")
    ingest_rlds(tmp_path, tmp_path / "o.knb", key_map={"actions": "obs"})
    assert kinonb.open(tmp_path / "o.knb").read_meta(0)["action_dim"] == 1
