"""Byte ranges of a remote file through fsspec (``s3://``, ``gs://``, ``http(s)://``, ``memory://``, any URL it
knows; extra ``remote``), with every request counted."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...errors import InvalidArgumentError, TruncatedFileError


@dataclass
class Counts:
    requests: int = 0  # calls to the store (one cat_ranges call may carry many ranges)
    ranges: int = 0
    bytes: int = 0


@dataclass
class RangeSource:
    """``read(starts, ends)``: the bytes of each range, fetched in one ``cat_ranges`` call (fsspec runs the ranges
    of an async store, s3fs / gcsfs / http, concurrently)."""

    url: str
    storage_options: dict = field(default_factory=dict)
    counts: Counts = field(default_factory=Counts)

    def __post_init__(self):
        from ..ingest import require

        fsspec = require("fsspec", "remote", f"opening {self.url}")
        try:
            self.fs, self.path = fsspec.core.url_to_fs(self.url, **self.storage_options)
        except (ValueError, ImportError) as e:
            raise InvalidArgumentError(f"{self.url}: {e} (remote reads need the store's fsspec package, e.g. "
                                       f"s3fs for s3://: pip install 'kinonb[remote]')") from e
        info = self.fs.info(self.path)
        self.counts.requests += 1
        if info.get("type") == "directory":
            raise InvalidArgumentError(f"{self.url} is a folder, not a file; a dataset of shards opens with a "
                                       f"trailing '/': {self.url.rstrip('/')}/")
        self.size = int(info["size"])
        self.version = str(info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified")
                           or "")

    def read(self, starts: list[int], ends: list[int]) -> list[bytes]:
        if not starts:
            return []
        for a, b in zip(starts, ends):
            if not 0 <= a <= b <= self.size:
                raise InvalidArgumentError(f"{self.url}: range [{a}, {b}) outside the file's {self.size} bytes")
        out = self.fs.cat_ranges([self.path] * len(starts), list(starts), list(ends))
        self.counts.requests += 1
        self.counts.ranges += len(starts)
        for a, b, data in zip(starts, ends, out):
            if isinstance(data, BaseException):
                raise data
            if len(data) != b - a:
                raise TruncatedFileError(self.url, a, f"{b - a} bytes", f"{len(data)}",
                                         "the remote file changed or was cut while it was read")
            self.counts.bytes += len(data)
        return out
