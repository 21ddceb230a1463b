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

__all__ = [
    "__version__", "open", "resize", "SampleIndex", "create", "append", "validate", "repair", "salvage", "Report",
    "Database", "Writer", "EncodedJpeg", "EncodedVideo", "set_decode_threads", "set_num_threads", "get_num_threads",
    "ArgumentTypeError", "BadMagicError", "ChecksumError", "CorruptFieldError",
    "EmptyDatasetError", "FormatError", "ImageDecodeError", "IngestWarning", "InvalidArgumentError",
    "KinonbError", "KinonbWarning", "MissingExtraError", "MissingFileError", "NoCommitError", "OffsetError",
    "OutputExistsError", "OverlapError", "PositionError", "QueryError", "RecoverableTailError", "SchemaError", "SourceLayoutError",
    "TornTailError", "TornTailWarning", "TruncatedFileError", "UnclosedWriterWarning", "UnknownKeyError",
    "UnsupportedVersionError", "UsageError", "WriteFailedError", "WriterClosedError", "WriterLockedError",
]
