"""The closed set of errors kinonb raises.

Each kind of failure has its own class. Every class subclasses :class:`KinonbError` and the builtin a caller
would already catch (``ValueError``, ``IndexError``, ``BlockingIOError``), so ``except ValueError`` keeps
working for code written against kinodb.
"""

from __future__ import annotations


class KinonbError(Exception):
    """Base class of every error kinonb raises on purpose."""


class FormatError(KinonbError, ValueError):
    """A file does not follow format_spec.md.

    The message names the file, the byte offset, what the reader expected there and what it found.
    """

    def __init__(self, path, offset, expected, found, hint: str | None = None):
        self.path = str(path)
        self.offset = offset
        self.expected = expected
        self.found = found
        self.hint = hint
        where = f"at byte {offset}" if offset is not None else "in file"
        msg = f"{self.path}: {where}: expected {expected}, found {found}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)

    def __reduce__(self):
        return (type(self), (self.path, self.offset, self.expected, self.found, self.hint))


class BadMagicError(FormatError):
    """The magic bytes of the header, a footer or a trailer are wrong."""


class UnsupportedVersionError(FormatError):
    """The file was written by a newer major version of the format."""


class TruncatedFileError(FormatError):
    """The file ends before a structure it announces."""


class ChecksumError(FormatError):
    """A stored CRC-32 does not match the bytes it covers."""


class OffsetError(FormatError):
    """An offset or length points outside the file or outside its region."""


class OverlapError(FormatError):
    """Two regions that must be disjoint overlap, or blocks are out of file order."""


class CorruptFieldError(FormatError):
    """A field holds a value the format does not allow (bad enum, dtype, shape, count, utf-8, json)."""


class NoCommitError(FormatError):
    """No intact commit was found anywhere in the file."""


class SchemaError(KinonbError, ValueError):
    """Data handed to the writer does not fit the file's schema (dtype, shape, frame count)."""


class WriterLockedError(KinonbError, BlockingIOError):
    """Another writer holds the file's exclusive lock."""


class QueryError(KinonbError, ValueError):
    """A KQL query does not parse or does not type-check. ``position`` is the 0-based character index."""

    def __init__(self, message: str, query: str = "", position: int | None = None):
        self.query = query
        self.position = position
        self.reason = message
        text = message
        if position is not None and query:
            text = f"{message} at position {position}\n  {query}\n  {' ' * position}^"
        super().__init__(text)

    def __reduce__(self):
        return (type(self), (self.reason, self.query, self.position))


class WriteFailedError(KinonbError, OSError):
    """Writing a commit failed (disk full, I/O error). Every earlier commit is intact; the writer is closed."""


class TornTailError(FormatError):
    """Appending was refused: the file has bytes after its last intact commit (repair it first)."""


class RecoverableTailError(TornTailError):
    """Repair was refused: the bytes it would remove hold episodes that ``kinonb salvage`` can recover."""


# -- bad arguments (caller errors, not file errors) ----------------------------------------------------------


class InvalidArgumentError(KinonbError, ValueError):
    """An argument has a value kinonb cannot use (the message names the argument, what it takes and what it got)."""


class ArgumentTypeError(KinonbError, TypeError):
    """An argument has the wrong type."""


class PositionError(KinonbError, IndexError):
    """An episode, sample or frame position lies outside what the file or index holds."""


class UnknownKeyError(KinonbError, KeyError):
    """A column, camera or key name that the file or index does not have."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class WriterClosedError(KinonbError, ValueError):
    """The writer was closed (or left its ``with`` block); open another with :func:`kinonb.append`."""


class OutputExistsError(KinonbError, FileExistsError):
    """The output file exists and overwriting was not asked for."""


class MissingFileError(KinonbError, FileNotFoundError):
    """The file or directory to read does not exist."""


# -- foreign formats and the command line --------------------------------------------------------------------


class SourceLayoutError(KinonbError, ValueError):
    """A source dataset does not have the layout its reader expects. The message says what was expected and found."""

    def __init__(self, path, expected: str, found: str, hint: str | None = None):
        self.path, self.expected, self.found, self.hint = str(path), expected, found, hint
        msg = f"{self.path}: expected {expected}; found {found}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)

    def __reduce__(self):
        return (type(self), (self.path, self.expected, self.found, self.hint))


class MissingExtraError(KinonbError, ImportError):
    """An optional dependency is not installed; the message names the kinonb extra that installs it."""


class UsageError(KinonbError, ValueError):
    """A command line that the CLI cannot run as given (exit status 2)."""


# -- warnings ------------------------------------------------------------------------------------------------


class KinonbWarning(UserWarning):
    """Base class of every warning kinonb issues."""


class TornTailWarning(KinonbWarning):
    """The file has bytes after its last intact commit (an interrupted append)."""


class IngestWarning(KinonbWarning):
    """Something in a source was not stored (it is also listed in the report's ``skipped``)."""


class ImageDecodeError(KinonbError, ValueError):
    """An image payload (JPEG / PNG) does not decode to the size and channels its record announces."""


class EmptyDatasetError(KinonbError, ValueError):
    """A dataset selects no sample (its filter, windows or file leave nothing to train on)."""


class UnclosedWriterWarning(KinonbWarning):
    """A writer was garbage-collected without ``close()`` or a ``with`` block: its pending episodes are lost."""
