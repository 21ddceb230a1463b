"""How camera frames reach the model, parsed once: output size, resize mode, layout and scaling.

Every entry point that takes image options (``SampleIndex.read``, :func:`kinonb.resize`, the torch datasets)
parses them here, so one set of rules accepts or refuses a value everywhere.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, replace

from ..errors import ArgumentTypeError, InvalidArgumentError
from ..kernels.resize import MODES

LAYOUTS = ("HWC", "CHW")


def size_pair(size, label: str = "image_size") -> tuple[int, int]:
    """``(height, width)`` as two positive ints; bools and non-integers are refused."""
    try:
        oh, ow = size
        if isinstance(oh, bool) or isinstance(ow, bool):
            raise TypeError
        oh, ow = operator.index(oh), operator.index(ow)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{label} must be a pair of positive ints (height, width), got {size!r}") from None
    if oh <= 0 or ow <= 0:
        raise InvalidArgumentError(f"{label} must be a pair of positive ints (height, width), got {size!r}")
    return oh, ow


def check_mode(mode, label: str = "mode") -> str:
    if mode not in MODES:
        raise InvalidArgumentError(f"{label} must be one of {MODES}, got {mode!r}")
    return mode


def check_layout(layout, label: str = "layout") -> str:
    if layout not in LAYOUTS:
        raise InvalidArgumentError(f"{label} must be one of {LAYOUTS}, got {layout!r}")
    return layout


@dataclass(frozen=True)
class ImageOptions:
    """``size``: None (keep the stored size), ``(h, w)``, or ``{camera: (h, w)}``; ``mode``: ``"nearest"``,
    ``"bilinear"`` or ``"area"``; ``layout``: ``"HWC"`` or ``"CHW"``; ``normalize``: float32 in [0, 1] instead of
    uint8. Checked on construction."""

    size: object = None
    mode: str = "bilinear"
    layout: str = "HWC"
    normalize: bool = False
    mode_label: str = field(default="mode", repr=False, compare=False)  # the caller's name for ``mode``

    def __post_init__(self):
        check_mode(self.mode, self.mode_label)
        check_layout(self.layout)
        if not isinstance(self.normalize, bool):
            object.__setattr__(self, "normalize", bool(self.normalize))
        if isinstance(self.size, dict):
            if not all(isinstance(k, str) for k in self.size):
                raise ArgumentTypeError(f"image_size keys must be camera names, got {list(self.size)!r}")
            object.__setattr__(self, "size", {k: size_pair(v, f"image_size[{k!r}]") for k, v in self.size.items()})
        elif self.size is not None:
            object.__setattr__(self, "size", size_pair(self.size))

    @property
    def chw(self) -> bool:
        return self.layout == "CHW"

    @property
    def plain(self) -> bool:
        """True when frames pass through unchanged (stored size, HWC, uint8)."""
        return self.size is None and not self.chw and not self.normalize

    def sizes(self, cameras, known=None) -> dict:
        """``{camera: (h, w)}`` for ``cameras`` (those being read). A dict ``size`` may only name cameras in
        ``known`` (default: ``cameras``)."""
        if self.size is None:
            return {}
        if not isinstance(self.size, dict):
            return {k: self.size for k in cameras}
        allowed = list(cameras) if known is None else list(known)
        for k in self.size:
            if k not in allowed:
                raise InvalidArgumentError(f"image_size: {k!r} is not a camera (cameras: {sorted(allowed)})")
        return {k: v for k, v in self.size.items() if k in cameras}

    def size_of(self, camera: str):
        return self.size.get(camera) if isinstance(self.size, dict) else self.size

    def restricted(self, cameras, known) -> "ImageOptions":
        """These options for reading ``cameras`` of a file whose cameras are ``known``: a per-camera ``size`` may
        name any known camera and keeps only those read."""
        if not isinstance(self.size, dict):
            return self
        return replace(self, size=self.sizes(cameras, known) or None)
