"""RLDS datasets as TFDS writes them: TFRecord shards of ``tf.train.Example`` (or SequenceExample), one episode
per record, read without TensorFlow (extra ``rlds``: nothing beyond numpy; JPEG/PNG images need Pillow).

Expected layout: a TFDS version directory (``<name>/<version>/``, or the dataset directory above it, whose newest
version is read) with ``features.json`` and ``dataset_info.json`` (the split order) beside shards named
``<name>-<split>.tfrecord-<i>-of-<n>``. Every record's framing CRCs are verified (``tfrecord.py``); the protobuf
is decoded by ``example_proto.py``. Episodes are read split by split in dataset_info order, shard by shard.

Per-step features ``steps/<key>`` (an Example flattens the T steps of each feature into one list; features.json
gives every feature's dtype and per-step shape, which fixes T):

    steps/action                  -> actions (float16/32/64 as features.json types them, else float32); a dict
                                     action (steps/action/<k>, e.g. RT-1's world_vector, rotation_delta, ...)
                                     -> each an extra column ``action/<k>`` and, the float ones, concatenated
                                     in sorted key order into actions
    steps/observation/state       -> states (likewise)
    steps/reward                  -> rewards; total_reward = their float64 sum
    steps/is_terminal             -> is_terminal
    image features (JPEG / PNG)   -> cameras named by their last path part (``image_0``): JPEG frames kept as
                                     their bytes (``EncodedJpeg``), PNG decoded to uint8; ``transcode=`` decodes
                                     JPEG too and stores it as ``"jpeg"`` (re-encoded), ``"lz4"`` or ``"raw"``
    steps/language_instruction    -> task (the first step's); attrs["language_instructions"] when steps differ
    other numeric step features   -> extra columns named by their path below steps/ (``discount``, ``is_first``,
                                     ``language_embedding``, ``observation/<key>``)
    episode_metadata/<key>        -> attrs[<key>];  the split name -> attrs["split"]
    other text features           -> skipped and reported

RLDS records no robot and no frame rate: embodiment and fps are left empty (the report says so) unless the
embodiment / fps options set them.

Without features.json, dtypes come from the protobuf lists (float -> float32, int64 -> int64, bytes starting
with JPEG/PNG magic -> images, other bytes -> text) and T from ``steps/is_first`` (or ``is_last``, ``reward``).
"""

from __future__ import annotations

import numpy as np

from ...errors import CorruptFieldError, InvalidArgumentError
from . import (
    Report,
    SourceLayoutError,
    check_options,
    non_empty,
    renames,
    role_float,
    role_keys,
    selected,
    states_and_rewards,
    terminal_flags,
    write_ingest,
)
from .cameras import check_transcode, encoded_jpeg
from .example_proto import Feature, parse_example
from .rlds_layout import find_version_dir, info_episodes, list_shards, read_features  # noqa: F401
from .tfrecord import count_records, iter_records

META_FROM = {"task": "steps/language_instruction (the first step's)",
             "embodiment": "the RLDS features (they name no robot)", "fps": "the RLDS features (they hold no rate)"}
ROLE_KEYS = {"actions": "action", "states": "observation/state", "rewards": "reward", "is_terminal": "is_terminal"}
LENGTH_KEYS = ("is_first", "is_last", "is_terminal", "reward", "discount")
_NUMPY = {"float32": np.float32, "float64": np.float64, "float16": np.float16, "int64": np.int64,
          "int32": np.int32, "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "uint16": np.uint16,
          "uint32": np.uint32, "bool": np.bool_}


def ingest_rlds(src, out, *, embodiment=None, task=None, fps=None, max_episodes=None, compression=None,
                key_map=None, split=None, verify_crc=True, transcode=None, overwrite=False, progress=None,
                episodes=None) -> Report:
    """Convert an RLDS TFRecord dataset directory to .knb (see the module docstring for the mapping).

    ``split`` reads one split only (e.g. "train"); ``verify_crc=False`` skips the TFRecord checksums;
    ``transcode`` (None, "jpeg", "lz4", "raw"): how cameras are stored (None: JPEG bytes kept). With
    ``episodes=`` the records are counted from their headers, and those before the range are skipped unparsed.
    """
    key_map = check_options(fps=fps, max_episodes=max_episodes, compression=compression, key_map=key_map)
    compression = check_transcode(transcode, compression)
    root = find_version_dir(src)
    report = Report("ingest", source=str(src), output=str(out), format="rlds")
    specs = read_features(root)
    shards = list_shards(root, split)
    if not shards:
        found = sorted(p.name for p in root.iterdir())[:20]
        raise SourceLayoutError(root, f"TFRecord shards <name>-{split or '<split>'}.tfrecord-<i>-of-<n>",
                                f"entries {found}")
    counts = None if episodes is None else [count_records(path, verify=verify_crc) for _, path in shards]
    chosen = selected(None if counts is None else sum(counts), max_episodes, episodes)
    total = len(chosen) if counts is not None else info_episodes(root, shards, split)
    if max_episodes is not None and counts is None:
        total = min(total, int(max_episodes)) if total is not None else int(max_episodes)

    def gen():
        pos = 0  # the source position of the next record
        for k, (split_name, path) in enumerate(shards):
            skip = max(0, min(chosen.start - pos, counts[k] if counts else 0))
            pos += skip
            if counts and skip == counts[k]:
                continue
            for offset, data in iter_records(path, verify=verify_crc, skip=skip):
                if pos >= chosen.stop:
                    return
                features, lists = parse_example(data, path=str(path), offset=offset + 12)
                steps, meta = _flatten(features, lists)
                yield dict(_episode(steps, meta, specs, key_map, split_name, f"{path.name} record at byte {offset}",
                                    report, keep_jpeg=transcode is None), episode_id=pos)
                pos += 1

    return write_ingest(out, gen(), report, compression=compression, overwrite=overwrite, progress=progress,
                        total=total, embodiment=embodiment, task=task, fps=fps, meta_from=META_FROM)


# ---- one episode -----------------------------------------------------------------------------------------


def _flatten(features: dict, lists: dict | None):
    """({step key: Feature or [Feature per step]}, {metadata key: Feature}) from an Example / SequenceExample."""
    steps, meta = {}, {}
    for k, f in features.items():
        if k.startswith("steps/"):
            steps[k[len("steps/"):]] = f
        else:
            meta[k[len("episode_metadata/"):] if k.startswith("episode_metadata/") else k] = f
    for k, fl in (lists or {}).items():
        steps[k[len("steps/"):] if k.startswith("steps/") else k] = fl
    return steps, meta


def _values(feature):
    """The values of a step feature: a flat array / list for an Example, concatenated per step otherwise."""
    if isinstance(feature, Feature):
        return feature.kind, feature.value if feature.value is not None else []
    kinds = {f.kind for f in feature if f.kind != "empty"}
    if len(kinds) > 1:
        raise InvalidArgumentError(f"mixed feature kinds {sorted(kinds)}")
    kind = kinds.pop() if kinds else "empty"
    if kind == "bytes":
        return kind, [v for f in feature for v in (f.value or [])]
    parts = [f.value for f in feature if f.value is not None]
    return kind, np.concatenate(parts) if parts else []


def _num_steps(steps: dict, specs: dict, where: str, report) -> int:
    for key in LENGTH_KEYS:
        if key in steps:
            spec = specs.get(f"steps/{key}", {})
            per = int(np.prod(spec.get("shape") or [1]))
            return len(_values(steps[key])[1]) // max(per, 1)
    for key, f in steps.items():
        spec = specs.get(f"steps/{key}")
        if spec and spec["kind"] == "tensor":
            per = int(np.prod(spec["shape"] or [1]))
            if per:
                return len(_values(f)[1]) // per
        if spec and spec["kind"] in ("image", "text"):
            return len(_values(f)[1])
    raise SourceLayoutError(report.source, f"a steps/is_first feature (or features.json) to count the steps of "
                            f"{where}", f"step features {sorted(steps)}")


def _episode(steps: dict, meta: dict, specs: dict, key_map: dict, split: str, where: str, report,
             keep_jpeg: bool = False) -> dict:
    """One episode record as Writer.add_episode kwargs (see the module docstring for the mapping)."""
    if not steps:
        raise SourceLayoutError(report.source, f"steps/* features in {where}", f"features {sorted(meta)}")
    t = _num_steps(steps, specs, where, report)
    if t == 0:
        raise SourceLayoutError(report.source, f"at least one step in {where}", "0 steps")
    numeric, images, texts = _step_features(steps, specs, t, where, report)
    roles = role_keys(key_map, ROLE_KEYS)
    actions, used = _actions(numeric, roles["actions"], steps, t, where, report)
    ep = {"actions": role_float("actions", actions.reshape(t, -1), report), "source": where}
    fields, role_used = states_and_rewards(numeric, roles, t, report)
    ep.update(fields)
    used |= role_used
    done = None
    if roles["is_terminal"] in numeric:
        used.add(roles["is_terminal"])
        done = numeric[roles["is_terminal"]].reshape(t)
    ep["is_terminal"] = terminal_flags(done, t, report, "no steps/is_terminal: is_terminal True on the last step only")
    rename = renames(key_map)
    columns = {rename.get(k, k): v for k, v in numeric.items() if k not in used}
    ep.update(non_empty(columns=columns, images=_cameras(images, rename, t, where, report, keep_jpeg)))
    ep.update(_task_and_attrs(texts, meta, specs, split, report))
    return ep


def _step_features(steps: dict, specs: dict, t: int, where: str, report):
    """The step features in key order, split by kind: ({key: (t, ...) array}, {key: (encoded images, spec)},
    {key: [text per step]}); tensors in another encoding and other bytes are reported skipped."""
    numeric, images, texts = {}, {}, {}
    for key, feature in sorted(steps.items()):
        spec = specs.get(f"steps/{key}", {})
        kind, values = _values(feature)
        if spec.get("kind") == "text" or (kind == "bytes" and not spec and not _is_image(values)):
            texts[key] = [v.decode("utf-8", "replace") for v in values]
        elif spec.get("kind") == "image" or (kind == "bytes" and _is_image(values)):
            images[key] = (values, spec)
        elif spec.get("kind") == "tensor" and spec.get("encoding", "none") != "none":
            report.skip(f"steps/{key}", f"tensor encoding {spec['encoding']!r} is not supported")
        elif kind == "bytes":
            report.skip(f"steps/{key}", "bytes that are neither text nor JPEG/PNG images")
        else:
            numeric[key] = _numeric_steps(key, values, spec, t, where, report)
    return numeric, images, texts


def _numeric_steps(key: str, values, spec: dict, t: int, where: str, report) -> np.ndarray:
    """A numeric step feature as a (t, *shape) array of its features.json dtype, exactly (else CorruptFieldError)."""
    arr = np.asarray(values)
    shape = spec.get("shape")
    per = int(np.prod(shape)) if shape is not None else (arr.size // t if t else 0)
    if arr.size != t * per:
        raise CorruptFieldError(report.source, None, f"{t} x {per} values for steps/{key} in {where}",
                                f"{arr.size} values")
    arr = arr.reshape((t, *shape) if shape is not None else (t, per) if per != 1 else (t,))
    dtype = _NUMPY.get(spec.get("dtype", ""))
    if dtype is not None and arr.dtype != dtype:
        cast = arr.astype(dtype)
        if not np.array_equal(cast.astype(arr.dtype), arr):
            raise CorruptFieldError(report.source, None, f"steps/{key} values of dtype {spec['dtype']} in {where}",
                                    f"values that do not fit ({arr.dtype})")
        arr = cast
    return arr


def _actions(numeric: dict, akey: str, steps: dict, t: int, where: str, report):
    """(actions, the keys used): steps/<akey>, else its float parts steps/<akey>/<k> concatenated in sorted key
    order (RT-1's dict action; the parts stay extra columns too)."""
    if akey in numeric:
        return numeric[akey], {akey}
    parts = sorted(k for k in numeric if k.startswith(akey + "/") and numeric[k].dtype.kind == "f")
    if not parts:
        raise SourceLayoutError(report.source, f"steps/{akey} (or steps/{akey}/<key> parts) in {where}",
                                f"step features {sorted(steps)}", "map one with key_map / --map actions=KEY")
    actions = np.concatenate([numeric[k].reshape(t, -1) for k in parts], axis=1)
    report.note(f"actions = concatenation of steps/{{{', '.join(parts)}}} (sorted keys)")
    return actions, set()


def _cameras(images: dict, rename: dict, t: int, where: str, report, keep_jpeg: bool = False) -> dict:
    """{camera name: (t, H, W, C) uint8, or EncodedJpeg when ``keep_jpeg`` and every frame is a JPEG} from the
    image features, named by their last path part (or key_map)."""
    from ..image_codecs import sniff

    cams = {}
    for key, (values, spec) in images.items():
        if keep_jpeg and len(values) == t and values and all(sniff(v) == "jpeg" for v in values):
            shape = spec.get("shape") or []
            shape = tuple(shape) if len(shape) == 3 and 0 not in shape else None
            cams[rename.get(key, key.rsplit("/", 1)[-1])] = encoded_jpeg(values, shape, f"steps/{key}",
                                                                         f"{report.source}: {where}")
            continue
        frames = _decode(values, spec, key, t, where, report)
        if frames is not None:
            cams[rename.get(key, key.rsplit("/", 1)[-1])] = frames
    return cams


def _task_and_attrs(texts: dict, meta: dict, specs: dict, split: str, report) -> dict:
    """task (the first step's language instruction, when there is one) and attrs (split, the instructions when steps
    differ, episode_metadata/<key>); the other text features are reported skipped."""
    fields, attrs = {}, {"split": split}
    instruction_key = next((k for k in ("language_instruction", "observation/natural_language_instruction")
                            if k in texts), None)
    if instruction_key:
        lines = texts.pop(instruction_key)
        fields["task"] = lines[0] if lines else ""
        if len(set(lines)) > 1:
            attrs["language_instructions"] = list(dict.fromkeys(lines))
    for key in texts:
        report.skip(f"steps/{key}", "text per step (kinonb columns are numeric)")
    for key, f in meta.items():
        attrs[key] = _meta_value(f, specs.get(f"episode_metadata/{key}", {}))
    fields["attrs"] = attrs
    return fields


def _is_image(values) -> bool:
    from ..image_codecs import sniff

    return bool(values) and sniff(values[0]) is not None


def _decode(values, spec, key, t, where, report):
    from ..image_codecs import decode_image

    if len(values) != t:
        raise CorruptFieldError(report.source, None, f"{t} encoded images for steps/{key} in {where}",
                                f"{len(values)}")
    if all(len(v) == 0 for v in values):
        report.skip(f"camera steps/{key} (some episodes)", "no image bytes in the episode")
        return None
    shape = spec.get("shape") or []
    if len(shape) != 3 or 0 in shape:  # no (or a partial) shape in features.json: take it from the first image
        shape = _probe(values[0])
    h, w, c = shape
    out = np.empty((t, h, w, c), np.uint8)
    for i, data in enumerate(values):
        try:
            out[i] = decode_image(data, w, h, c)
        except ValueError as e:
            raise CorruptFieldError(report.source, None, f"a decodable {h}x{w}x{c} image for steps/{key} step {i} "
                                    f"in {where}", str(e)) from None
    return out


def _probe(data) -> list[int]:
    import io

    from ..image_codecs import _pillow

    with _pillow().open(io.BytesIO(bytes(data))) as im:
        w, h = im.size
        return [h, w, {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}.get(im.mode, 3)]


def _meta_value(f: Feature, spec: dict):
    kind, values = _values(f)
    if kind == "bytes":
        items = [v.decode("utf-8", "replace") for v in values]
    elif kind == "empty":
        items = []
    else:
        items = np.asarray(values).tolist()
        if spec.get("dtype") == "bool":
            items = [bool(x) for x in items]
        items = [None if isinstance(x, float) and not np.isfinite(x) else x for x in items]
    return items[0] if len(items) == 1 and not spec.get("shape") else items
