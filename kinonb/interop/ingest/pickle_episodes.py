"""A pickle of episode dicts (no extra), read by an unpickler that admits numpy arrays and containers only.

    [{"observations": (T, S), "actions": (T, A), "rewards": (T,), "init_state_dict": {...}}, ...]   (DAPG)
    {"name": {episode dict}, ...}      episodes in key order (the key in attrs["pickle_key"])
    {episode dict}                     one episode

Each episode dict is a tree for the field map (:mod:`.field_map`, :mod:`.generic`): ``observations`` fills
states, ``actions`` actions, ``rewards`` rewards by default; float64 is kept; ``init_state_dict`` (a path with
"init" in it) becomes episode arrays. The episode id is the position.

**Safety.** Unpickling can call any importable function (``os.system``), so kinonb's unpickler resolves only the
names numpy arrays and plain containers need: ``numpy.ndarray`` / ``numpy.dtype``,
``numpy[._]core.multiarray._reconstruct`` / ``scalar``, ``numpy[._]core.numeric._frombuffer`` (protocol 5),
``builtins.set`` / ``frozenset`` / ``bytearray`` / ``complex``, ``collections.OrderedDict`` and, for protocol 2
bytes, ``_codecs.encode`` to latin-1 only. It imports no module a pickle names: every other name is refused with
a :class:`SourceLayoutError` before anything is called. An array the pickle asks ``_reconstruct`` to allocate may
be no larger than the file itself, and ``ndarray.__setstate__`` checks the data length against the shape.
"""

from __future__ import annotations

import collections
import io
import os
import pickle

import numpy as np

from . import Report, SourceLayoutError, require_exists
from .generic import write_trees

_SCALAR = (np._core if hasattr(np, "_core") else np.core).multiarray.scalar
_NOT_SAFE = "kinonb unpickles numpy arrays, numbers, strings and containers only; other objects can run code"


class _NdarrayType:
    """Stands for ``numpy.ndarray`` inside a pickle: ``_reconstruct``'s first argument. It is not callable, so a
    pickle cannot use it to allocate an array of any size it likes."""

    def __repr__(self) -> str:
        return "numpy.ndarray (as a _reconstruct argument only)"


NDARRAY = _NdarrayType()


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler whose :meth:`find_class` hands out the few names numpy arrays need (module docstring)."""

    def __init__(self, file, *, label: str, max_bytes: int):
        super().__init__(file)
        self.label, self.max_bytes = label, int(max_bytes)
        reconstruct, scalar, frombuffer = self._reconstruct, self._scalar, self._frombuffer
        self.allowed = {
            ("numpy", "ndarray"): NDARRAY, ("numpy", "dtype"): np.dtype,
            ("builtins", "set"): set, ("builtins", "frozenset"): frozenset, ("builtins", "bytearray"): bytearray,
            ("builtins", "complex"): complex, ("collections", "OrderedDict"): collections.OrderedDict,
            ("_codecs", "encode"): _latin1_encode,
        }
        self.allowed.update({("__builtin__", n): v for (m, n), v in list(self.allowed.items()) if m == "builtins"})
        for core in ("numpy.core", "numpy._core"):
            self.allowed.update({(f"{core}.multiarray", "_reconstruct"): reconstruct,
                                 (f"{core}.multiarray", "scalar"): scalar,
                                 (f"{core}.numeric", "_frombuffer"): frombuffer})

    def find_class(self, module: str, name: str):
        try:
            return self.allowed[(module, name)]
        except (KeyError, TypeError):
            raise SourceLayoutError(self.label, "a pickle of numpy arrays and containers only",
                                    f"a reference to {module}.{name}", _NOT_SAFE) from None

    def persistent_load(self, pid):
        raise SourceLayoutError(self.label, "a pickle of numpy arrays and containers only",
                                f"a persistent id {pid!r:.40}", _NOT_SAFE)

    def _reconstruct(self, subtype, shape, dtype):
        if subtype is not NDARRAY:
            raise SourceLayoutError(self.label, "_reconstruct(numpy.ndarray, ...)", f"_reconstruct({subtype!r:.40})",
                                    _NOT_SAFE)
        dt = np.dtype(dtype)
        count = int(np.prod(np.asarray(shape, dtype=np.int64), dtype=object)) if np.ndim(shape) else int(shape)
        if count < 0 or count * max(dt.itemsize, 1) > self.max_bytes:
            raise SourceLayoutError(self.label, f"an array of at most {self.max_bytes} bytes (the file's size)",
                                    f"_reconstruct of shape {shape!r:.60}, {dt}", "file seems forged")
        return np.ndarray(shape, dt)

    def _scalar(self, dtype, *data):
        if not isinstance(dtype, np.dtype):
            raise SourceLayoutError(self.label, "numpy scalar(dtype, bytes)", f"scalar({dtype!r:.40})", _NOT_SAFE)
        return _SCALAR(dtype, *data)

    def _frombuffer(self, buf, dtype, shape, order):
        dt = np.dtype(dtype)
        if dt.hasobject:
            raise SourceLayoutError(self.label, "a buffer of plain numbers", f"dtype {dt}", _NOT_SAFE)
        return np.frombuffer(buf, dt).reshape(shape, order=order)


def _latin1_encode(text, encoding="utf-8"):
    """``_codecs.encode`` as protocol-2 pickles use it for bytes: str -> latin-1 bytes, nothing else."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(f"_codecs.encode({type(text).__name__}, {encoding!r}): only latin1 str")
    return text.encode("latin-1")


def safe_load(path) -> object:
    """The object pickled in ``path``, through :class:`RestrictedUnpickler` (SourceLayoutError otherwise)."""
    label = os.fspath(path)
    with open(label, "rb") as f:
        data = f.read()
    try:
        return RestrictedUnpickler(io.BytesIO(data), label=label, max_bytes=len(data)).load()
    except SourceLayoutError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, RecursionError, OverflowError) as e:
        raise SourceLayoutError(label, "a readable pickle of episode dicts", f"{type(e).__name__}: {e}") from None


def episodes_of(obj, label: str) -> list[tuple[str, dict]]:
    """[(label, episode dict)] from a list of dicts, a dict of dicts or one episode dict."""
    if isinstance(obj, (list, tuple)):
        bad = next((i for i, ep in enumerate(obj) if not isinstance(ep, dict)), None)
        if bad is not None or not obj:
            found = "an empty list" if not obj else f"item {bad} is a {type(obj[bad]).__name__}"
            raise SourceLayoutError(label, "a list of episode dicts", found)
        return [(f"episode {i}", ep) for i, ep in enumerate(obj)]
    if isinstance(obj, dict) and obj and all(isinstance(v, dict) for v in obj.values()):
        return [(f"episode {k!r}", dict(v, pickle_key=str(k))) for k, v in obj.items()]
    if isinstance(obj, dict) and obj:
        return [("episode 0", obj)]
    raise SourceLayoutError(label, "a list of episode dicts (or a dict of them, or one)", type(obj).__name__)


def ingest_pickle(src, out, **options) -> Report:
    """Convert a pickle of episode dicts (see the module docstring) to .knb."""
    require_exists(src)
    episodes = episodes_of(safe_load(src), str(src))
    report = Report("ingest", source=str(src), output=str(out), format="pickle")
    return write_trees(src, out, "pickle", lambda i: (*episodes[i], i), len(episodes), report=report, **options)
