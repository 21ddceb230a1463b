"""kinonb: episode-first storage for robot-learning data."""

from ._version import __version__
from .codecs.decode_pool import set_decode_threads
from .codecs.encoded import EncodedJpeg, EncodedVideo
from .errors import (
    ArgumentTypeError,
    BadMagicError,
    ChecksumError,
    CorruptFieldError,
    EmptyDatasetError,
    FormatError,
    ImageDecodeError,
    IngestWarning,
    InvalidArgumentError,
    KinonbError,
    KinonbWarning,
    MissingExtraError,
    MissingFileError,
    NoCommitError,
    OffsetError,
    OutputExistsError,
    OverlapError,
    PositionError,
    QueryError,
    RecoverableTailError,
    SchemaError,
    SourceLayoutError,
    TornTailError,
    TornTailWarning,
    TruncatedFileError,
    UnclosedWriterWarning,
    UnknownKeyError,
    UnsupportedVersionError,
    UsageError,
    WriteFailedError,
    WriterClosedError,
    WriterLockedError,
)
from .interop.dataset import open_dataset, write_manifest
from .interop.opener import open
from .kernels.threads import num_threads as get_num_threads
from .kernels.threads import set_num_threads
from .sampling.index import SampleIndex
from .sampling.resize import resize
from .store.reader import Database
from .store.report import Report
from .store.salvage import salvage
from .store.validate import repair, validate
from .store.writer import Writer, append, create


def log(path) -> list:
    """Every commit of a .knb file, oldest first (seq, time, episodes, bytes, what changed): ``kinonb log``."""
    from .store.history import history

    return history(path)


def compact(src, out, *, overwrite: bool = False, progress=None) -> Report:
    """Write only the live episodes of ``src`` to the new file ``out`` (see kinonb/ops/compact.py)."""
    from .ops.compact import compact as run

    return run(src, out, overwrite=overwrite, progress=progress)


def diff(a, b):
    """Episodes added, removed and changed from ``a`` to ``b`` (paths, readers or (path, commit)): ops/diff.py."""
    from .ops.diff import diff as run

    return run(a, b)

__all__ = [
    "__version__", "open", "open_dataset", "write_manifest", "log", "compact", "diff", "resize", "SampleIndex", "create", "append", "validate", "repair", "salvage", "Report",
    "Database", "Writer", "EncodedJpeg", "EncodedVideo", "set_decode_threads", "set_num_threads", "get_num_threads",
    "ArgumentTypeError", "BadMagicError", "ChecksumError", "CorruptFieldError",
    "EmptyDatasetError", "FormatError", "ImageDecodeError", "IngestWarning", "InvalidArgumentError",
    "KinonbError", "KinonbWarning", "MissingExtraError", "MissingFileError", "NoCommitError", "OffsetError",
    "OutputExistsError", "OverlapError", "PositionError", "QueryError", "RecoverableTailError", "SchemaError", "SourceLayoutError",
    "TornTailError", "TornTailWarning", "TruncatedFileError", "UnclosedWriterWarning", "UnknownKeyError",
    "UnsupportedVersionError", "UsageError", "WriteFailedError", "WriterClosedError", "WriterLockedError",
]
