"""Forged commits: footers built by hand, with every checksum valid, for hostile-input tests."""

from __future__ import annotations

import os

import numpy as np

from ..format import layout as L
from ..format.footer import Footer, decode_footer, encode_footer
from ..format.header import encode_trailer
from ..store.recovery import find_last_commit


def forge_commit(path, mutate) -> None:
    """Append a commit whose footer is the last one after ``mutate(footer)``, with every checksum valid.

    For hostile-input tests: it proves the reader's structural checks, not just its checksums.
    """
    fd = os.open(path, os.O_RDWR)
    try:
        commit, _ = find_last_commit(fd, path)
        buf = np.memmap(path, np.uint8, mode="r", shape=(commit.end,)).view(np.ndarray)
        f = decode_footer(buf, path, commit.footer_offset, commit.footer_length, commit.minor)
        forged = Footer(columns=list(f.columns), strings=list(f.strings), episodes=np.array(f.episodes),
                        blocks=np.array(f.blocks), attrs_heap=bytes(f.attrs_heap), stats=np.array(f.stats),
                        num_frames=f.num_frames, minor=commit.minor,
                        block_shapes=None if f.block_shapes is None else np.array(f.block_shapes))
        mutate(forged)
        pieces, length, crc = encode_footer(forged)
        at = L.align_up(commit.end)
        data = b"".join(pieces) + encode_trailer(at, length, commit.seq + 1, len(forged.episodes), crc, forged.minor)
        os.pwrite(fd, data, at)
    finally:
        os.close(fd)
