"""Which ingest format a source path holds: each format's probe looks at names and leading bytes only.

A probe answers (score, what it saw): 2 the format's layout, 1 something like it (a candidate to name when
nothing matches), 0 nothing of it. :func:`detect` tries the probes in FORMATS order and returns the first format
that scores 2 with the list of formats tried; when none does, the SourceLayoutError lists them and names the
closest format (the first that scored 1) with the ``--format`` / ``--map`` options to pass.
"""

from __future__ import annotations

import errno
import os
import zipfile
from pathlib import Path

from ...errors import MissingFileError, SourceLayoutError
from ..kdb_layout import MAGIC as KDB_MAGIC

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
PICKLE_SUFFIXES = (".pkl", ".pickle", ".p", ".pk")
#: Every ingest format, in the order detection tries them.
FORMATS = ("kdb", "hdf5", "lerobot", "zarr", "rlds", "rrd", "npz", "pickle", "hf_datasets")
RRD_MAGIC = b"RRF2"


def _head(p: Path) -> bytes:
    with open(p, "rb") as f:
        return f.read(8)


def _file_probes(p: Path) -> dict:
    head, suffix, name = _head(p), p.suffix.lower(), p.name.lower()
    zipped = head.startswith(ZIP_MAGIC)
    npz = 0
    if zipped and (suffix == ".npz" or _all_npy(p)):
        npz = 2
    elif suffix in (".npz", ".npy"):
        npz = 1
    pickle = 2 if (head[:1] == b"\x80" and 2 <= head[1] <= 5) or suffix in PICKLE_SUFFIXES else 0
    return {
        "kdb": (2 if head[:4] == KDB_MAGIC else 1 if suffix == ".kdb" else 0, "a .kdb name without its magic"),
        "hdf5": (2 if head == HDF5_MAGIC else 1 if suffix in (".hdf5", ".h5", ".he5") else 0,
                 "an HDF5 name without the HDF5 signature"),
        "zarr": (2 if zipped and ".zarr" in name else 0, ""),
        "rlds": (2 if ".tfrecord" in name else 0, ""),
        "rrd": (2 if head[:4] == RRD_MAGIC else 1 if suffix == ".rrd" else 0, "an .rrd name without Rerun's magic"),
        "npz": (npz, "a single .npy array: save an episode's arrays together with numpy.savez" if suffix == ".npy"
                else "an .npz name that is not a zip of .npy arrays"),
        "pickle": (pickle, ""),
        "hf_datasets": (1 if suffix in (".arrow", ".parquet") else 0,
                        "one Arrow / parquet file: pass the folder save_to_disk wrote (with state.json)"),
    }


def _all_npy(p: Path) -> bool:
    try:
        with zipfile.ZipFile(p) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return bool(names) and all(n.endswith(".npy") for n in names)


def _any(p: Path, *patterns: str) -> bool:
    return any(next(iter(p.glob(pat)), None) is not None for pat in patterns)


def _dir_probes(p: Path) -> dict:
    hf = 2 if (p / "state.json").is_file() or (p / "dataset_dict.json").is_file() else 0
    if not hf and _any(p, "*.parquet", "data/*.parquet"):
        hf = 2
    elif not hf and _any(p, "*.arrow", "*/*.arrow"):
        hf = 1
    lerobot = 2 if (p / "meta" / "info.json").is_file() else 1 if _any(p, "data/chunk-*/*.parquet") else 0
    return {
        "kdb": (0, ""),
        "hdf5": (1 if _any(p, "*.hdf5", "*.h5") else 0, "HDF5 files in a folder: pass one file"),
        "lerobot": (lerobot, "LeRobot data/chunk-*/ parquet files without meta/info.json"),
        "zarr": (2 if (p / ".zgroup").is_file() or (p / "zarr.json").is_file() else 0, ""),
        "rlds": (2 if _any(p, "*.tfrecord*", "*/*.tfrecord*") else 0, ""),
        "rrd": (2 if _any(p, "*.rrd") else 0, ""),
        "npz": (2 if _any(p, "*.npz", "*/*.npz") else 1 if _any(p, "*.npy", "*/*.npy") else 0,
                ".npy files: save each episode's arrays as one .npz (numpy.savez)"),
        "pickle": (1 if _any(p, *(f"*{s}" for s in PICKLE_SUFFIXES)) else 0,
                   "pickle files in a folder: pass one file (a list of episode dicts)"),
        "hf_datasets": (hf, "Arrow files without state.json (save_to_disk writes one)"),
    }


def detect(src) -> tuple[str, list[str]]:
    """(the format of ``src``, the formats tried, in order, up to it); SourceLayoutError when none matches."""
    p = Path(src)
    if not p.exists():
        raise MissingFileError(errno.ENOENT, os.strerror(errno.ENOENT), str(p))
    probes = _file_probes(p) if p.is_file() else _dir_probes(p)
    tried = []
    for fmt in FORMATS:
        tried.append(fmt)
        if probes.get(fmt, (0, ""))[0] == 2:
            return fmt, tried
    close = next((fmt for fmt in FORMATS if probes.get(fmt, (0, ""))[0] == 1), None)
    found = "a file" if p.is_file() else f"a folder holding {sorted(x.name for x in p.iterdir())[:12]}"
    if close is None:
        hint = ("pass --format FORMAT (and --map actions=KEY --map states=KEY for its keys); the generic "
                "formats are npz (per-episode .npz files), pickle (a list of episode dicts) and hf_datasets "
                "(a save_to_disk folder)")
    else:
        hint = (f"closest: {close} ({probes[close][1]}); pass --format {close}, with --map actions=KEY "
                f"--map states=KEY if its keys have other names")
    raise SourceLayoutError(p, f"a source of one of the formats tried ({', '.join(tried)})", found, hint)
