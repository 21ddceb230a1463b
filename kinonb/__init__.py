"""kinonb: episode-first storage for robot-learning data."""

from ._version import __version__
from .errors import (
    BadMagicError,
    ChecksumError,
    CorruptFieldError,
    FormatError,
    KinonbError,
    NoCommitError,
    OffsetError,
    OverlapError,
    QueryError,
    SchemaError,
    TornTailError,
    TornTailWarning,
    TruncatedFileError,
    UnsupportedVersionError,
    WriteFailedError,
    WriterLockedError,
)
from .interop.opener import open
from .sampling.index import SampleIndex
from .sampling.resize import resize
from .store.reader import Database
from .store.report import Report
from .store.validate import repair, validate
from .store.writer import Writer, append, create

__all__ = [
    "__version__", "open", "resize", "SampleIndex", "create", "append", "validate", "repair", "Report", "Database", "Writer", "TornTailWarning",
    "KinonbError", "FormatError", "BadMagicError", "ChecksumError", "CorruptFieldError", "NoCommitError",
    "OffsetError", "OverlapError", "QueryError", "SchemaError", "TornTailError", "TruncatedFileError", "UnsupportedVersionError",
    "WriteFailedError", "WriterLockedError",
]
