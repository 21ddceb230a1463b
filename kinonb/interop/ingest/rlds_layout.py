"""The layout of an RLDS / TFDS dataset directory (:mod:`.rlds`): its version directory, its TFRecord shards in
split order, its ``features.json`` specs and its ``dataset_info.json`` episode counts."""

from __future__ import annotations

import json
import re
from pathlib import Path

from . import SourceLayoutError, require_exists

SHARD = re.compile(r"^(?P<name>.+)-(?P<split>[^-.]+)\.tfrecord(?:-(?P<i>\d+)-of-(?P<n>\d+))?$")


def find_version_dir(src) -> Path:
    p = Path(src)
    if p.is_file():
        return p.parent
    require_exists(p)

    def holds_dataset(d):
        return (d / "features.json").is_file() or any(SHARD.match(f.name) for f in d.iterdir())

    if holds_dataset(p):
        return p
    versions = sorted((d for d in p.iterdir() if d.is_dir() and holds_dataset(d)),
                      key=lambda d: [int(x) if x.isdigit() else x for x in re.split(r"[.]", d.name)])
    if versions:
        return versions[-1]
    raise SourceLayoutError(p, "an RLDS/TFDS directory: features.json and <name>-<split>.tfrecord-* shards, or "
                            "version subdirectories holding them",
                            f"entries {sorted(x.name for x in p.iterdir())[:20]}")


def list_shards(root: Path, split=None) -> list[tuple[str, Path]]:
    """(split, path) of every shard, splits in dataset_info order (then by name), shards by index."""
    shards = []
    for f in root.iterdir():
        m = SHARD.match(f.name)
        if m and (split is None or m.group("split") == split):
            shards.append((m.group("split"), int(m.group("i") or 0), f))
    order = {}
    info = root / "dataset_info.json"
    if info.is_file():
        for k, s in enumerate(json.loads(info.read_text()).get("splits", [])):
            order[s.get("name")] = k
    shards.sort(key=lambda s: (order.get(s[0], len(order)), s[0], s[1]))
    return [(s, f) for s, _, f in shards]


def info_episodes(root: Path, shards, split) -> int | None:
    info = root / "dataset_info.json"
    if not info.is_file():
        return None
    wanted = {s for s, _ in shards}
    total = 0
    for s in json.loads(info.read_text()).get("splits", []):
        if s.get("name") in wanted:
            total += sum(int(x) for x in s.get("shardLengths", []))
    return total or None


def read_features(root: Path) -> dict:
    """{"steps/action": spec, ...} from features.json; each spec has kind (tensor/image/text), dtype, shape."""
    path = root / "features.json"
    if not path.is_file():
        return {}
    out = {}

    def walk(node, prefix):
        cls = node.get("pythonClassName", "")
        if "featuresDict" in node:
            for k, v in node["featuresDict"]["features"].items():
                walk(v, f"{prefix}{k}/")
        elif "sequence" in node:
            walk(node["sequence"]["feature"], prefix)
        elif "image" in node:
            spec = node["image"]
            out[prefix[:-1]] = {"kind": "image", "dtype": spec.get("dtype", "uint8"),
                                "shape": [int(d) for d in spec.get("shape", {}).get("dimensions", [])],
                                "encoding": spec.get("encodingFormat", "")}
        elif "text" in node or cls.endswith(".Text"):
            out[prefix[:-1]] = {"kind": "text"}
        elif "tensor" in node:
            spec = node["tensor"]
            out[prefix[:-1]] = {"kind": "tensor", "dtype": spec.get("dtype", "float32"),
                                "shape": [int(d) for d in spec.get("shape", {}).get("dimensions", [])],
                                "encoding": spec.get("encoding", "none")}

    walk(json.loads(path.read_text()), "")
    return out
