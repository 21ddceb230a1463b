"""The one encoding of an episode's ``success``: one byte, 0 unknown, 1 false, 2 true.

The .knb ``EPISODE.success`` field, kinodb's ``.kdb`` meta byte (kinonb adopted kinodb's codes) and the KQL
metadata table all store these codes; the ordering false < true is what KQL's ``<`` / ``>`` compare.
"""

from __future__ import annotations

import numpy as np

from ..errors import SchemaError

UNKNOWN, FALSE, TRUE = 0, 1, 2
#: code -> Python value
VALUES = {UNKNOWN: None, FALSE: False, TRUE: True}


def encode(value, label: str = "success") -> int:
    """None / bool -> code; anything else raises SchemaError naming ``label``."""
    if value is None:
        return UNKNOWN
    if not isinstance(value, (bool, np.bool_)):
        raise SchemaError(f"{label} must be True, False or None, got {value!r}")
    return TRUE if value else FALSE


def decode(code: int):
    """code -> None / False / True (the caller has checked that ``code`` is one of VALUES)."""
    return VALUES[int(code)]
