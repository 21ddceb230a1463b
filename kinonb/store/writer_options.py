"""What ``kinonb.create`` / ``kinonb.append`` are asked beyond the path, checked once before the file is touched."""

from __future__ import annotations

from dataclasses import dataclass, field

from .autocommit import DEFAULT_AUTOCOMMIT_BYTES, AutoCommit
from .camera_codecs import CameraCodecs
from .column_input import parse_dtypes


@dataclass(frozen=True)
class WriterOptions:
    codecs: CameraCodecs
    dtypes: dict = field(default_factory=dict)  # column name -> the dtype asked for (dtypes=)
    autocommit: AutoCommit = AutoCommit()

    @classmethod
    def checked(cls, compression=None, dtypes=None, autocommit_bytes: int | None = DEFAULT_AUTOCOMMIT_BYTES,
                autocommit_episodes: int | None = None, **codec_options) -> "WriterOptions":
        return cls(CameraCodecs(compression, **codec_options), parse_dtypes(dtypes),
                   AutoCommit.checked(autocommit_bytes, autocommit_episodes))
