"""Writes the golden v1.2 file: the v1.0 golden episodes, then one edit commit using every 1.2 edit. Run once;
never regenerate it.

    python tests/format/golden/make_golden_1_2.py tests/format/golden/v1_2.knb
"""

import os
import sys

import numpy as np

import kinonb
from make_golden import write as write_1_0

#: commit_info.time of the edit commit (SOURCE_DATE_EPOCH makes it reproducible)
EDIT_TIME = "1796256000"
EMBEDDING = np.arange(6, dtype=np.float32).reshape(3, 2) / 8


def write(path):
    write_1_0(path)
    previous = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = EDIT_TIME
    try:
        with kinonb.append(path) as w:
            w.set_meta(0, success=False, instructions=["push the T", "slide the T block"],
                       segments=[(0, 2, "approach"), (2, 4, "push")])
            w.add_column(2, "embedding", EMBEDDING)
            w.trim(0, 1, 3)
            w.delete_episodes([1])
    finally:
        if previous is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = previous


if __name__ == "__main__":
    write(sys.argv[1])
