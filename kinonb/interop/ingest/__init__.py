"""Convert the formats robot datasets ship in into one .knb file.

    >>> from kinonb.ingest import ingest
    >>> report = ingest("low_dim.hdf5", "lift.knb", format="hdf5", embodiment="panda", fps=20)
    >>> report.episodes, report.frames, report.skipped

One module per source format, each importing its third-party reader only when it runs (extras in brackets):
:mod:`~kinonb.ingest.hdf5` (robomimic / LIBERO / robosuite HDF5, ``[hdf5]``), :mod:`~kinonb.ingest.lerobot`
(LeRobot v2.1 / v3.0, ``[lerobot]``), :mod:`~kinonb.ingest.zarr_replay` (diffusion_policy replay buffers,
``[zarr]``; also flat groups of concatenated episodes with ``episode_ends``), :mod:`~kinonb.ingest.rlds` (RLDS
TFRecords, no TensorFlow, ``[rlds]``: nothing extra), :mod:`~kinonb.ingest.kdb` (kinodb ``.kdb`` files, no extra)
and the generic formats, for what users have (their field map: :mod:`~kinonb.ingest.field_map`):
:mod:`~kinonb.ingest.npz` (a folder of per-episode ``.npz`` files, or one ``.npz`` of concatenated episodes with
``episode_ends``, no extra), :mod:`~kinonb.ingest.pickle_episodes` (a pickle of a list of episode dicts, read
by an unpickler that admits numpy arrays only) and :mod:`~kinonb.ingest.hf_datasets` (``save_to_disk``
folders, ``[lerobot]``: pyarrow). :func:`detect_format` (:mod:`~kinonb.ingest.detect`) says which it tried.

Every ingest function has the signature ``ingest_<format>(src, out, **options) -> Report`` with the common
options below; the output is written to a temporary file beside ``out`` and renamed into place only when
complete, so a failed ingest never leaves a half-written ``out``.

Common options:
    embodiment, task, fps   override what the source says (None: take it from the source, when it has it)
    max_episodes            stop after this many episodes (in the source's order)
    episodes                range(start, stop): only these source episodes (positions in the source's order,
                            after its filters, within what max_episodes keeps); the others are not read
                            (:mod:`~kinonb.ingest.selection`; a sharded ingest gives each shard its range)
    compression             None, "lz4", "jpeg" or "video" for every camera, or {camera: codec} per stored
                            camera name (others raw): how decoded camera frames are stored
    transcode               lerobot / rlds: None keeps the source's camera bytes (video packets, JPEG frames);
                            "jpeg", "lz4" or "raw" decodes them and stores them that way (fast random access)
    key_map                 {name: source key}: for name in actions / states / rewards / is_terminal, the source
                            key that fills that role; any other name stores that source key under that name
                            (a camera or a column rename), e.g. ``{"top": "img", "states": "obs/joint_pos"}``
    overwrite               replace an existing ``out``
    progress                a callable wrapping an iterable (e.g. ``tqdm.tqdm``), or None

Nothing is dropped silently: whatever a source holds that kinonb does not store is listed in
the report's ``skipped`` and announced with an :class:`IngestWarning`.

Task, embodiment and fps: every format takes them from the source where it has them (each module's docstring
says where it looks), an option overrides them, and the report's ``notes`` hold one line per field saying where
its value came from (``"task from data.attrs env_args.env_name: 'Lift'"``, ``"fps from the override (fps= /
--fps): 20"``) or that it was left empty (``"fps left empty (0: unknown): none in ...; set it with --fps HZ
(CLI) or fps= (Python)"``). Lines are found by their start: ``"<field> from "`` or ``"<field> left empty"``.
"""

from __future__ import annotations

import errno
import importlib
import math
import os
import warnings

import numpy as np

from ...errors import (  # noqa: F401  (IngestWarning, MissingExtraError, SourceLayoutError: also importable from here)
    IngestWarning,
    InvalidArgumentError,
    MissingExtraError,
    MissingFileError,
    SourceLayoutError,
)
from ...format import layout as L
from ...format.schema import FIXED_ROLE_KEYS, is_reserved_name, storable_dtype
from ...store.camera_codecs import CameraCodecs
from ...store.report import Report
from ...store.transfer import write_episodes
from .batch import EpisodeBatch
from .detect import FORMATS, detect
from .selection import COUNT, Counted, selected, taken  # noqa: F401  (used by the format modules)

#: The module of each format whose module is not named after it.
MODULES = {"zarr": "zarr_replay", "pickle": "pickle_episodes"}


def require_exists(path) -> None:
    """MissingFileError unless the source ``path`` exists."""
    if not os.path.exists(path):
        raise MissingFileError(errno.ENOENT, os.strerror(errno.ENOENT), os.fspath(path))


def require(module: str, extra: str, what: str):
    """Import ``module`` or raise MissingExtraError naming the kinonb extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtraError(
            f"{what} needs the {module!r} package: pip install 'kinonb[{extra}]' ({e})"
        ) from e


def detect_format(src) -> str:
    """Guess the source format from the path (names and leading bytes: :mod:`.detect`); a SourceLayoutError
    when none fits lists the formats tried and names the closest, with the ``--format`` / ``--map`` to pass."""
    return detect(src)[0]


def ingest(src, out, *, format: str | None = None, **options) -> Report:
    """Convert ``src`` into the .knb file ``out``; ``format`` is one of FORMATS (None: detect it, and say in the
    report's notes which formats were tried)."""
    tried = None
    if format is None:
        format, tried = detect(src)
    if format not in FORMATS:
        raise InvalidArgumentError(f"format must be one of {FORMATS}, got {format!r}")
    module = importlib.import_module(f".{MODULES.get(format, format)}", __name__)
    report = getattr(module, f"ingest_{format}")(src, out, **options)
    if tried is not None:
        report.note(f"format {format} detected (tried {', '.join(tried)})")
    return report


def count_episodes(src, *, format: str | None = None, **options) -> int:
    """How many episodes ``ingest(src, out, format=format, **options)`` would write (its filters and max_episodes
    applied), found by running that ingest up to its choice of episodes (:mod:`.selection`): no episode is read
    and nothing is written. Most formats count from their index (hdf5's groups, LeRobot's episode table, zarr's
    episode_ends, a .kdb's index, a folder's files, RLDS record headers); a pickle, a single .npz, an
    hf_datasets table and Rerun recordings are read whole to count them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IngestWarning)
        try:
            ingest(src, None, format=format, episodes=COUNT, **options)
        except Counted as counted:
            return counted.count
    raise InvalidArgumentError(f"{src}: the {format or 'detected'} ingest did not count its episodes")


# ---- shared by the format modules ------------------------------------------------------------------------


def check_options(*, fps=None, max_episodes=None, compression=None, key_map=None) -> dict:
    if fps is not None and (not math.isfinite(float(fps)) or float(fps) < 0):
        raise InvalidArgumentError(f"fps must be finite and >= 0, got {fps}")
    if max_episodes is not None and int(max_episodes) < 0:
        raise InvalidArgumentError(f"max_episodes must be >= 0, got {max_episodes}")
    CameraCodecs(compression)  # InvalidArgumentError for a codec the writer does not know
    key_map = dict(key_map or {})
    for name, key in key_map.items():
        if not isinstance(name, str) or not name or not isinstance(key, str) or not key:
            raise InvalidArgumentError(f"key_map entries must be non-empty name -> source key strings, got {name!r}: {key!r}")
    return key_map


def renames(key_map: dict) -> dict:
    """{source key: stored name} for the key_map entries that are not roles."""
    return {key: name for name, key in key_map.items() if name not in FIXED_ROLE_KEYS}


ROLE_FLOATS = (np.float16, np.float32, np.float64)


def role_float(name: str, arr, report: Report) -> np.ndarray:
    """A fixed role's values (actions, states, rewards): float16/32/64 as the source holds them (format 1.1 keeps
    them, so a float64 source reads back bit-exact); other numbers (ints, bools) as float32, noted when rounded."""
    arr = np.asarray(arr)
    return arr if arr.dtype.type in ROLE_FLOATS else as_float32(name, arr, report)


def as_float32(name: str, arr, report: Report) -> np.ndarray:
    """Cast a role array to float32; note in the report when that rounds any value."""
    arr = np.asarray(arr)
    out = arr.astype(np.float32)
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 4 and arr.size:
        with np.errstate(invalid="ignore"):
            same = (out.astype(arr.dtype) == arr) | (np.isnan(arr) & np.isnan(out))
        if not same.all():
            report.note(f"{name}: {arr.dtype} rounded to float32 (the role's dtype)")
    elif arr.dtype.kind in "iu" and arr.size and np.abs(arr).max() > 2**24:
        report.note(f"{name}: {arr.dtype} values above 2**24 rounded to float32")
    return out


def total_reward(rewards) -> float | None:
    """Sum of the rewards in float64 (as kinodb sums them), or None without rewards."""
    return None if rewards is None else float(np.sum(np.asarray(rewards, np.float64)))


def last_frame_terminal(t: int) -> np.ndarray:
    """is_terminal for a source without done flags: True on the last frame only (kinodb's convention)."""
    d = np.zeros(t, bool)
    d[-1] = True
    return d


def storable_column(arr: np.ndarray) -> str | None:
    """Why ``arr`` (T, ...) cannot be an extra column, or None if it can."""
    if arr.dtype.kind not in "biuf":
        return f"dtype {arr.dtype} is not numeric"
    if storable_dtype(arr.dtype) is None:
        return f"dtype {arr.dtype} is not storable"
    if arr.ndim - 1 > L.MAX_NDIM:
        return f"{arr.ndim - 1} dimensions per frame (at most {L.MAX_NDIM})"
    return None


def column_name(key: str, taken, prefix: str = "obs.") -> str:
    """A column name for a source key: the key itself unless kinonb reserves it or it is taken
    ("actions" -> "obs.actions")."""
    name = key
    if is_reserved_name(name) or name in taken:
        name = f"{prefix}{key}"
    return name


def role_keys(key_map: dict, defaults: dict) -> dict:
    """{role: source key} for the roles in ``defaults`` ({role: the format's usual source key}): the key_map entry
    for the role when there is one, else the default."""
    return {role: key_map.get(role, default) for role, default in defaults.items()}


def states_and_rewards(arrays: dict, roles: dict, t: int, report: Report, labels: dict | None = None):
    """An episode's states, rewards and total_reward from ``arrays`` ({source key: (t, ...) array}) at the source
    keys ``roles`` names ({role: source key}; a role it lacks is absent), floats kept (:func:`role_float`).
    ``labels`` ({role: name}, default the role) names an array in the report's rounding note. Returns (those fields, the source keys used)."""
    labels = labels or {}
    fields, used = {}, set()
    key = roles.get("states")
    if key in arrays:
        used.add(key)
        fields["states"] = role_float(labels.get("states", "states"), arrays[key].reshape(t, -1), report)
    rewards = None
    key = roles.get("rewards")
    if key in arrays:
        used.add(key)
        rewards = arrays[key].reshape(t)
        fields["rewards"] = role_float(labels.get("rewards", "rewards"), rewards, report)
    fields["total_reward"] = total_reward(rewards)
    return fields, used


def require_zero_one(done: np.ndarray, src, what: str, found: str = "values {values}") -> np.ndarray:
    """``done`` when it holds only 0 and 1 (or bools); otherwise SourceLayoutError(src, "<what> of 0/1 values",
    found), ``found`` formatted with the first distinct values ({values}) and the dtype ({dtype})."""
    if not np.isin(done, (0, 1)).all():
        raise SourceLayoutError(src, f"{what} of 0/1 values",
                                found.format(values=np.unique(done)[:5].tolist(), dtype=done.dtype))
    return done


def terminal_flags(done, t: int, report: Report, missing_note: str | None = None) -> np.ndarray:
    """is_terminal: ``done != 0`` from the source's done flags, or, without them (``done`` None), True on the last
    frame only (kinodb's convention), noting ``missing_note`` in the report when given."""
    if done is not None:
        return done != 0
    if missing_note:
        report.note(missing_note)
    return last_frame_terminal(t)


def camera_shaped(shape) -> bool:
    """Whether an array of this shape can be a camera's frames: (T, H, W, C) with C in 1..4."""
    return len(shape) == 4 and 1 <= shape[-1] <= 4


def skip_if_unstorable(arr: np.ndarray, what: str, report: Report, stacklevel: int = 4) -> bool:
    """True when ``arr`` cannot be an extra column, after reporting ``what`` skipped with the reason. ``stacklevel``
    is report.skip's, counted from here: the default 4 attributes the warning as a report.skip in the caller would."""
    why = storable_column(arr)
    if why:
        report.skip(what, why, stacklevel=stacklevel)
    return bool(why)


def non_empty(**fields) -> dict:
    """The fields that are not empty: an episode without cameras or extra columns passes no images / columns."""
    return {name: value for name, value in fields.items() if value}


# ---- task / embodiment / fps: where each came from, or that it was left empty ----------------------------------

META_FIELDS = ("task", "embodiment", "fps")
_SET_IT = {"task": "--task TEXT (CLI) or task= (Python)", "embodiment": "--embodiment NAME (CLI) or embodiment= "
           "(Python)", "fps": "--fps HZ (CLI) or fps= (Python)"}


def meta_value(field: str, raw):
    """A source's value for task / embodiment (a str; a list of words joins with spaces, a list of robots with
    "+") or fps (a float > 0, finite); None when ``raw`` is empty or not such a value."""
    if isinstance(raw, (bytes, np.bytes_)):
        raw = raw.decode("utf-8", "replace")
    if isinstance(raw, (np.ndarray, np.generic)):
        raw = raw.tolist()
    if field == "fps":
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            return None
        try:
            value = float(raw)
        except ValueError:
            return None
        return value if math.isfinite(value) and value > 0 else None
    if isinstance(raw, (list, tuple)) and raw and all(isinstance(x, str) and x.strip() for x in raw):
        return ("+" if field == "embodiment" else " ").join(x.strip() for x in raw)
    return (raw.strip() or None) if isinstance(raw, str) else None


def first_meta(field: str, candidates, report: Report):
    """(value, where) for ``field`` from ``candidates`` ((raw value, where in the source), in order of preference):
    the first usable one (a present but unusable one is noted and passed over), else (the empty value, the places
    looked, joined with " / ")."""
    for raw, where in candidates:
        if raw is None or (isinstance(raw, (str, list, tuple)) and not raw):
            continue
        value = meta_value(field, raw)
        if value is not None:
            return value, where
        report.note(f"{field}: {where} = {raw!r} is not a usable {field}; not used")
    return (0.0 if field == "fps" else ""), " / ".join(where for _, where in candidates)


def _empty(value) -> bool:
    return value is None or value == "" or value == 0


def _shown(field: str, values: list, more: bool) -> str:
    shown = ", ".join(f"{v:g}" if field == "fps" else repr(v) for v in values)
    if more:
        return f"more than {len(values)} values, e.g. {shown}"
    return shown if len(values) == 1 else f"{len(values)} values: {shown}"


class _MetaTally:
    """What one field held over the episodes: its source values (the first few distinct), how many episodes left it
    empty after the override."""

    def __init__(self, field: str, override):
        self.field, self.override = field, override
        self.episodes, self.empty, self.values, self.more = 0, 0, [], False

    def add(self, ep) -> None:
        if isinstance(ep, EpisodeBatch):
            return self._add_batch(ep)
        own = ep.get(self.field)
        self.episodes += 1
        if not _empty(own) and own not in self.values:
            self.more = self.more or len(self.values) == 3
            self.values += [] if len(self.values) == 3 else [own]
        if self.override is not None:
            ep[self.field] = own = self.override
        self.empty += _empty(own)

    def _add_batch(self, batch) -> None:
        """What ``add`` does for each episode of the batch, over its distinct values."""
        codes, values = batch.coded(self.field)
        self.episodes += len(codes)
        used, at = np.unique(codes, return_index=True)
        for own in (values[k] for k in used[np.argsort(at)].tolist()):  # in order of first appearance
            if self.more:
                break
            if not _empty(own) and own not in self.values:
                self.more = len(self.values) == 3
                self.values += [] if self.more else [own]
        if self.override is not None:
            batch.meta[self.field] = self.override
            self.empty += len(codes) * _empty(self.override)
        else:
            self.empty += int(np.isin(codes, [k for k in used.tolist() if _empty(values[k])]).sum())

    def line(self, where: str | None) -> str:
        """The report line: where the field's value came from, or that (and in how many episodes) it was left
        empty and how to set it."""
        f, source = self.field, f" {where}" if where else " the source"
        if self.empty:
            what = "the override is empty" if self.override is not None else f"none in{source}"
            some = "" if self.empty == self.episodes else f" in {self.empty} of {self.episodes} episodes"
            return f"{f} left empty{' (0: unknown)' if f == 'fps' else ''}{some}: {what}; set it with {_SET_IT[f]}"
        if self.override is None:
            return f"{f} from{source}: {_shown(f, self.values, self.more)}"
        line = f"{f} from the override ({f}= / --{f}): {_shown(f, [self.override], False)}"
        replaced = [v for v in self.values if v != self.override]
        return line + (f"; the source's {_shown(f, replaced, self.more)} ({where or 'the source'}) not used"
                       if replaced else "")


def write_ingest(out, episodes, report: Report, *, embodiment=None, task=None, fps=None, meta_from=None,
                 **options) -> Report:
    """Write ``episodes`` (Writer.add_episode keyword dicts, each with an optional ``source`` naming it in a
    SchemaError, and :class:`EpisodeBatch` runs, in order) to the new file ``out`` atomically, as
    :func:`~kinonb.store.transfer.write_episodes` does (``options``: its compression, overwrite, progress and
    total; progress counts episodes), and fill ``report``. Each episode's task / embodiment / fps (its source's,
    from the format module) is replaced by the ``task`` / ``embodiment`` / ``fps`` override when not None, then
    ``report`` gets one note per field: where its value came from (``meta_from[field]``: where the format read
    it; for a field the source lacks, where it looked) or that it was left empty, and how to set it. Merge does
    not come here: it copies files whose metadata is what it is."""
    overrides = {"task": task, "embodiment": embodiment, "fps": None if fps is None else float(fps)}
    tallies = [_MetaTally(f, overrides[f]) for f in META_FIELDS]

    def tallied():
        for ep in episodes:
            for tally in tallies:
                tally.add(ep)
            yield ep

    write_episodes(out, tallied(), report, **options)
    if report.episodes:
        for tally in tallies:
            report.note(tally.line((meta_from or {}).get(tally.field)))
    return report
