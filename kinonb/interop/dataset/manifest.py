"""The manifest of a sharded dataset: ``kinonb-dataset.json``, the small file that names its ``.knb`` shards.

A sharded dataset is a folder (or an object-storage prefix) of ``.knb`` files plus this manifest::

    {"format": "kinonb.dataset/1",
     "shards": [{"path": "shard-00000.knb", "episodes": 120, "frames": 36000, "commit": 1, "bytes": 9437184},
                ...],
     "episodes": 480, "frames": 144000}

Shards are listed in dataset order: episode positions run through shard 0, then shard 1, and so on. ``path``
is relative to the manifest's folder (POSIX separators, no ``..``); ``commit`` is the shard's commit that the
dataset reads, so a shard appended to later does not change what the dataset holds until the manifest is
written again (``kinonb manifest DIR``). Every field is checked when read: the manifest is untrusted input.
Without a manifest, a local folder's ``*.knb`` files in name order are the dataset (at their newest commits).
"""

from __future__ import annotations

import json
import os
import posixpath
from dataclasses import asdict, dataclass
from pathlib import Path

from ...errors import CorruptFieldError, FormatError, InvalidArgumentError, MissingFileError

MANIFEST_NAME = "kinonb-dataset.json"
MANIFEST_FORMAT = "kinonb.dataset/1"
#: A manifest larger than this is refused before it is parsed (a million shards fit in far less).
MAX_MANIFEST_BYTES = 256 << 20


@dataclass(frozen=True)
class ShardEntry:
    path: str  # relative to the manifest's folder, POSIX separators
    episodes: int
    frames: int
    commit: int | None  # the commit read; None: the newest
    bytes: int


@dataclass(frozen=True)
class Manifest:
    shards: tuple[ShardEntry, ...]
    where: str  # the manifest file (or folder) it was read from, for messages

    @property
    def episodes(self) -> int:
        return sum(s.episodes for s in self.shards)

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.shards)

    def to_json(self) -> dict:
        return {"format": MANIFEST_FORMAT, "shards": [asdict(s) for s in self.shards], "episodes": self.episodes,
                "frames": self.frames}


def shard_entry(folder, name: str) -> ShardEntry:
    """The manifest entry of the local shard ``folder/name``, read from the file at its newest commit."""
    from ...store.reader import Database

    with Database(Path(folder) / name) as db:
        return ShardEntry(name, db.num_episodes(), db.num_frames(), db.commit_seq,
                          os.path.getsize(Path(folder) / name))


def local_shards(folder) -> list[str]:
    """The ``*.knb`` files of ``folder`` in name order (hidden temporaries left out)."""
    folder = Path(folder)
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".knb" and not p.name.startswith(".")
                  and p.is_file())


def write_manifest(folder, shards=None) -> Manifest:
    """Write ``folder/kinonb-dataset.json`` naming ``shards`` (file names in ``folder``, in dataset order;
    default: its ``*.knb`` files in name order), each pinned at its newest commit; atomically (a reader sees the
    old manifest or the new one). Returns it."""
    from ...store.atomic import atomic_output

    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError(2, "no such dataset folder", str(folder))
    names = local_shards(folder) if shards is None else [_relative(str(s), str(folder)) for s in shards]
    if not names:
        raise InvalidArgumentError(f"{folder}: no .knb shard to name in a manifest")
    manifest = Manifest(tuple(shard_entry(folder, n) for n in names), str(folder / MANIFEST_NAME))
    text = json.dumps(manifest.to_json(), indent=1).encode()
    with atomic_output(folder / MANIFEST_NAME, overwrite=True, purpose="manifest") as tmp:
        Path(tmp).write_bytes(text)
    return manifest


def parse_manifest(data: bytes, where: str) -> Manifest:
    """A checked :class:`Manifest` from the bytes of a manifest file (``where`` names it in errors)."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise FormatError(where, 0, f"a manifest of at most {MAX_MANIFEST_BYTES} bytes", f"{len(data)} bytes")
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError(where, 0, "a JSON manifest", f"unparsable bytes ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise FormatError(where, 0, f"format {MANIFEST_FORMAT!r}", repr(found))
    shards = doc.get("shards")
    if not isinstance(shards, list) or not shards:
        raise CorruptFieldError(where, None, "a non-empty list 'shards'", repr(shards)[:80])
    entries = tuple(_entry(s, k, where) for k, s in enumerate(shards))
    seen = set()
    for e in entries:
        if e.path in seen:
            raise CorruptFieldError(where, None, "each shard named once", f"{e.path!r} twice")
        seen.add(e.path)
    return Manifest(entries, where)


def _entry(raw, k: int, where: str) -> ShardEntry:
    if not isinstance(raw, dict):
        raise CorruptFieldError(where, None, f"shards[{k}] an object", type(raw).__name__)
    path = raw.get("path")
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path or \
            ".." in posixpath.normpath(path).split("/") or not path.endswith(".knb"):
        raise CorruptFieldError(where, None, f"shards[{k}].path a relative .knb path inside the folder", repr(path))

    def count(name, optional=False):
        v = raw.get(name)
        if optional and v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise CorruptFieldError(where, None, f"shards[{k}].{name} an int >= 0", repr(v))
        return v

    return ShardEntry(path, count("episodes"), count("frames"), count("commit", optional=True), count("bytes"))


def _relative(name: str, folder: str) -> str:
    """A shard name given to write_manifest as a path relative to ``folder`` (absolute paths inside it too)."""
    rel = os.path.relpath(name, folder) if os.path.isabs(name) else name
    rel = rel.replace(os.sep, "/")
    if rel.startswith("../") or not (Path(folder) / rel).is_file():
        raise InvalidArgumentError(f"shard {name!r} is not a file in {folder}")
    return rel


def is_dataset_location(path) -> bool:
    """Whether ``path`` names a sharded dataset rather than one file: a local folder, a manifest file, or a URL
    ending in ``/`` or in the manifest's name."""
    text = os.fspath(path) if isinstance(path, os.PathLike) else path
    if not isinstance(text, str):
        return False
    if "://" in text and not text.startswith("file://"):
        return text.endswith("/") or text.endswith(MANIFEST_NAME)
    return text.endswith(MANIFEST_NAME) or os.path.isdir(text)


def manifest_file(location) -> Path | None:
    """The manifest of a local dataset ``location`` (its folder, or the manifest itself), None when it has none;
    MissingFileError when ``location`` is neither a folder nor a manifest."""
    location = Path(location)
    file = location if location.name == MANIFEST_NAME else location / MANIFEST_NAME
    if file.is_file():
        return file
    if not location.is_dir():
        raise MissingFileError(2, "no such dataset folder or manifest", str(location))
    return None


def read_local_manifest(file) -> Manifest:
    """The checked manifest in the local file ``file``."""
    with open(file, "rb") as f:
        return parse_manifest(f.read(MAX_MANIFEST_BYTES + 1), str(file))


def shard_files(location) -> list[str]:
    """The shard paths of a local dataset (folder or manifest) in dataset order: the manifest's, else the
    folder's ``*.knb`` files in name order."""
    file = manifest_file(location)
    if file is not None:
        return [str(file.parent / s.path) for s in read_local_manifest(file).shards]
    names = local_shards(location)
    if not names:
        raise InvalidArgumentError(f"{location}: no {MANIFEST_NAME} and no .knb file: not a kinonb dataset")
    return [str(Path(location) / n) for n in names]
