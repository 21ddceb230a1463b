"""The README's Python blocks run as written, one after the other, in a fresh interpreter and folder."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.S | re.M)


def test_the_readme_has_python_blocks():
    assert len(python_blocks()) >= 4


def test_readme_python_blocks_run_as_written(tmp_path):
    blocks = python_blocks()
    if importlib.util.find_spec("torch") is None:
        blocks = [b for b in blocks if "kinonb.torch" not in b]
    code = "\n".join(blocks)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "pusht.knb").is_file()
